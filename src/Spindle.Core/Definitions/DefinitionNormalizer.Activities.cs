using System.Text.Json.Nodes;

namespace Spindle.Core.Definitions;

// An activity entry: key, worker, name, parameters, outputs and streaming; its settings and dependencies are read
// by the sections in DefinitionNormalizer.Settings.cs and DefinitionNormalizer.Dependencies.cs.
internal sealed partial class DefinitionNormalizer
{
    // ------------------------------------------------------------------------------------------------ activity

    private Draft? Activity(JsonNode? node, int index)
    {
        var path = $"activities[{index}]";
        if (node is not JsonObject obj)
        {
            Error(path, $"Each activity must be a mapping with at least 'key', got {JsonUtil.Describe(node)}.");
            return null;
        }
        WarnUnknown(obj, path, ActivityKeys);
        var d = new Draft { Index = index, Prefix = path };

        // check 4 (key); uniqueness is checked once all keys are known
        var keyNode = obj["key"];
        if (keyNode is null)
        {
            Error(path + ".key", "Activity 'key' is required: give an identifier (letters, digits, '_' and '-'), unique within the workflow.");
        }
        else if (!JsonUtil.IsString(keyNode, out var key))
        {
            Error(path + ".key", $"Activity 'key' must be a string identifier, got {JsonUtil.Describe(keyNode)}{QuoteHint(keyNode, "key")}.");
        }
        else
        {
            d.Key = key;
            if (key.Length > 0)
            {
                d.Prefix = "activity." + key;
            }
            if (key.Length == 0)
            {
                Error(path + ".key", "Activity 'key' must not be empty.");
            }
            else if (!Identifier().IsMatch(key))
            {
                Error(path + ".key", $"Activity key \"{key}\" is not an identifier: use only letters, digits, '_' and '-'.");
            }
            else
            {
                d.KeyValid = true;
                if (NamespaceNames.Contains(key))
                {
                    Warn($"Activity key '{key}' is spelled like the template namespace name {key}, which hides it: templates cannot reach this activity's outputs. Rename the activity.");
                }
            }
        }

        // check 5 (worker)
        var routingKeyNode = obj["worker"];
        if (routingKeyNode is not null)
        {
            if (!JsonUtil.IsString(routingKeyNode, out var routingKey))
            {
                Error(path + ".worker", $"'worker' must be a string routing key such as std, got {JsonUtil.Describe(routingKeyNode)}.");
            }
            else if (routingKey.Length == 0)
            {
                Error(path + ".worker", "'worker' must not be empty: give the routing key of the worker that runs this activity (default std), or leave the field out.");
            }
            else
            {
                d.RoutingKey = routingKey;
            }
        }

        var nameNode = obj["activity_name"];
        var nameOk = true;
        if (nameNode is not null)
        {
            if (JsonUtil.IsString(nameNode, out var an))
            {
                d.ActivityName = an;
            }
            else
            {
                nameOk = false;
                Error(path + ".activity_name", $"'activity_name' must be a string such as echo, http_request or script, got {JsonUtil.Describe(nameNode)}.");
            }
        }
        // A child-workflow activity has no handler by design (no worker runs it), so its empty name is no slip.
        if (nameOk && string.IsNullOrEmpty(d.ActivityName) && obj["workflow"] is null)
        {
            Warn($"{Who(d)} has an empty activity_name; set activity_name to the handler the worker should run (e.g. echo, http_request, script).");
        }

        if (obj.ContainsKey("parameters"))
        {
            switch (obj["parameters"])
            {
                case null:
                    d.Parameters = [];
                    break;
                case JsonObject p:
                    d.Parameters = (JsonObject)p.DeepClone();
                    break;
                case var other:
                    Error(path + ".parameters", $"'parameters' must be a mapping (object), got {JsonUtil.Describe(other)}; write e.g. parameters: {{url: \"https://…\"}}.");
                    break;
            }
        }

        if (obj["outputs"] is { } outputs)
        {
            d.Outputs = Outputs(outputs, path + ".outputs");
        }

        Dependencies(obj["depends_on"], path + ".depends_on", d.Prefix + ".depends_on", d.DependsOn);
        Dependencies(obj["dependency_of"], path + ".dependency_of", d.Prefix + ".dependency_of", d.DependencyOf);

        // activity-level loop fields (these win over the same fields inside settings)
        var iterationLimit = Integer(obj["iteration_limit"], path + ".iteration_limit", 1);
        var iterationScoped = Bool(obj["iteration_scoped"], path + ".iteration_scoped");
        var streaming = Streaming(obj["streaming"], path + ".streaming");

        if (obj["settings"] is { } settings)
        {
            d.Settings = ActivitySettings(settings, path + ".settings", d.Prefix + ".settings", out var sLimit, out var sScoped, out var sStreaming);
            iterationLimit ??= sLimit;
            iterationScoped ??= sScoped;
            streaming ??= sStreaming;
        }
        d.IterationLimit = iterationLimit;
        d.IterationScoped = iterationScoped;
        d.Streaming = streaming;
        d.Map = Map(obj, path);
        d.Queueing = Queueing(obj, path);
        d.Child = Child(obj, path);
        return d;
    }

    private JsonArray? Outputs(JsonNode node, string path)
    {
        if (node is not JsonArray arr)
        {
            Error(path, $"'outputs' must be a list of output names or {{name, type}} objects, got {JsonUtil.Describe(node)}.");
            return null;
        }
        var result = new JsonArray();
        for (var j = 0; j < arr.Count; j++)
        {
            var itemPath = $"{path}[{j}]";
            switch (arr[j])
            {
                case JsonValue v when JsonUtil.IsString(v, out var n):
                    if (n.Length == 0)
                    {
                        Error(itemPath, "An output name must not be empty.");
                    }
                    else
                    {
                        result.Add(new JsonObject { ["name"] = n, ["type"] = "value" });
                    }
                    break;
                case JsonObject o:
                    WarnUnknown(o, itemPath, OutputKeys);
                    string? outName = null;
                    if (!JsonUtil.IsString(o["name"], out var on) || on.Length == 0)
                    {
                        Error(itemPath + ".name", $"An output needs a non-empty string 'name', got {JsonUtil.Describe(o["name"])}.");
                    }
                    else
                    {
                        outName = on;
                    }
                    var type = o["type"] is null ? "value" : Enum(o["type"], itemPath + ".type", ["value", "file", "folder"]);
                    if (outName is not null && type is not null)
                    {
                        result.Add(new JsonObject { ["name"] = outName, ["type"] = type });
                    }
                    break;
                case var other:
                    Error(itemPath, $"An output must be a name (string) or an object {{name, type}}, got {JsonUtil.Describe(other)}.");
                    break;
            }
        }
        return result;
    }

    private bool? Streaming(JsonNode? node, string path)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonValue v when JsonUtil.IsBool(v, out var b):
                return b;
            case JsonObject o:
                WarnUnknown(o, path, StreamingKeys);
                return o["enabled"] is null ? true : Bool(o["enabled"], path + ".enabled");
            default:
                Error(path, $"'streaming' must be true/false or {{enabled: true|false}}, got {JsonUtil.Describe(node)}.");
                return null;
        }
    }

    private static JsonObject ToJson(Draft d)
    {
        var o = new JsonObject { ["key"] = d.Key };
        if (d.RoutingKey is not null)
        {
            o["worker"] = d.RoutingKey;
        }
        if (d.ActivityName is not null)
        {
            o["activity_name"] = d.ActivityName;
        }
        if (d.Parameters is not null)
        {
            o["parameters"] = d.Parameters;
        }
        if (d.Outputs is not null)
        {
            o["outputs"] = d.Outputs;
        }
        o["depends_on"] = new JsonArray(d.Merged.Select(e => (JsonNode?)new JsonObject
        {
            ["activity_key"] = e.ActivityKey,
            ["conditions"] = new JsonArray(e.Conditions.Select(c => (JsonNode?)JsonValue.Create(c)).ToArray()),
            ["is_back_edge"] = e.IsBackEdge,
        }).ToArray());
        if (d.Settings is { Count: > 0 })
        {
            o["settings"] = d.Settings;
        }
        if (d.IterationLimit is { } limit)
        {
            o["iteration_limit"] = limit;
        }
        if (d.IterationScoped is { } scoped)
        {
            o["iteration_scoped"] = scoped;
        }
        if (d.Streaming is { } streaming)
        {
            o["streaming"] = streaming;
        }
        o["is_loop_activity"] = d.IsLoopActivity;
        foreach (var (name, value) in (d.Map ?? []).Concat(d.Queueing ?? []).Concat(d.Child ?? []))
        {
            o[name] = value?.DeepClone();
        }
        return o;
    }
}
