using System.Text.Json;
using System.Text.Json.Nodes;

namespace Spindle.Worker.Std.Ai;

/// <summary>Reads the conversation part of <c>llm_prompt</c>'s parameters into a <see cref="ChatRequest"/>.</summary>
internal static class LlmPromptParameters
{
    private static readonly HashSet<string> Roles = ["system", "user", "assistant"];

    public static ChatRequest ReadChat(JsonObject parameters)
    {
        var messages = new List<ChatMessage>();
        if (StdParameters.OptionalArray(parameters, "messages") is { } list)
        {
            for (int i = 0; i < list.Count; i++)
            {
                if (list[i] is not JsonObject item)
                {
                    throw StdParameters.Invalid($"messages[{i}] must be an object {{role, content}}");
                }

                string role = (StdParameters.OptionalString(item, "role") ?? "").Trim().ToLowerInvariant();
                if (!Roles.Contains(role))
                {
                    throw StdParameters.Invalid($"messages[{i}].role must be system, user or assistant, got '{role}'");
                }

                string content = item["content"] is JsonValue value && value.GetValueKind() == JsonValueKind.String
                    ? value.GetValue<string>()
                    : throw StdParameters.Invalid($"messages[{i}].content must be a string");
                messages.Add(new ChatMessage(role, content));
            }
        }

        if (StdParameters.OptionalString(parameters, "prompt") is { Length: > 0 } prompt)
        {
            messages.Add(new ChatMessage("user", prompt));
        }

        if (!messages.Any(m => m.Role != "system"))
        {
            throw StdParameters.Invalid("parameter 'prompt' (a string) or 'messages' (a list of {role, content}) is required");
        }

        return new ChatRequest(
            messages,
            StdParameters.FirstString(parameters, "system_prompt", "system") is { Length: > 0 } system ? system : null,
            ReadMaxTokens(parameters),
            ReadTemperature(parameters),
            ReadJsonMode(parameters),
            ReadTopP(parameters),
            ReadStopSequences(parameters),
            ReadStreaming(parameters));
    }

    /// <summary><c>streaming: true</c> asks the provider for its streaming answer and publishes the text as it arrives.</summary>
    private static bool ReadStreaming(JsonObject parameters) => parameters["streaming"] switch
    {
        null => false,
        JsonValue v when v.GetValueKind() == JsonValueKind.True => true,
        JsonValue v when v.GetValueKind() == JsonValueKind.False => false,
        _ => throw StdParameters.Invalid("parameter 'streaming' must be true or false"),
    };

    /// <summary><c>json: true</c>, <c>response_format: "json"</c> or <c>response_format: {"type": "json_object"}</c>.</summary>
    private static bool ReadJsonMode(JsonObject parameters)
    {
        bool json = parameters["json"] switch
        {
            null => false,
            JsonValue v when v.GetValueKind() == JsonValueKind.True => true,
            JsonValue v when v.GetValueKind() == JsonValueKind.False => false,
            _ => throw StdParameters.Invalid("parameter 'json' must be true or false"),
        };
        string? format = parameters["response_format"] switch
        {
            null => null,
            JsonObject obj => StdParameters.OptionalString(obj, "type"),
            _ => StdParameters.OptionalString(parameters, "response_format"),
        };
        return format?.Trim().ToLowerInvariant() switch
        {
            null or "" or "text" => json,
            "json" or "json_object" => true,
            _ => throw StdParameters.Invalid($"parameter 'response_format' must be \"json\" or \"text\", got '{format}'"),
        };
    }

    private static int? ReadMaxTokens(JsonObject parameters)
    {
        if (parameters["max_tokens"] is null)
        {
            return null;
        }

        return JsonNumbers.TryGetInt64(parameters["max_tokens"], out long value) && value is > 0 and <= int.MaxValue
            ? (int)value
            : throw StdParameters.Invalid("parameter 'max_tokens' must be a positive integer");
    }

    private static double? ReadTopP(JsonObject parameters)
    {
        if (parameters["top_p"] is null)
        {
            return null;
        }

        return JsonNumbers.TryGetDouble(parameters["top_p"], out double value) && value is >= 0 and <= 1
            ? value
            : throw StdParameters.Invalid("parameter 'top_p' must be a number from 0 to 1");
    }

    /// <summary><c>stop_sequences</c> (also <c>stop</c>): a string or a list of strings.</summary>
    private static List<string>? ReadStopSequences(JsonObject parameters)
    {
        string name = parameters["stop_sequences"] is not null ? "stop_sequences" : "stop";
        switch (parameters[name])
        {
            case null:
                return null;
            case JsonArray list:
                var stops = new List<string>(list.Count);
                for (int i = 0; i < list.Count; i++)
                {
                    stops.Add(list[i] is JsonValue value && value.GetValueKind() == JsonValueKind.String
                        ? value.GetValue<string>()
                        : throw StdParameters.Invalid($"{name}[{i}] must be a string"));
                }

                return stops;
            default:
                return [StdParameters.RequireString(parameters, name)];
        }
    }

    private static double? ReadTemperature(JsonObject parameters)
    {
        if (parameters["temperature"] is null)
        {
            return null;
        }

        return JsonNumbers.TryGetDouble(parameters["temperature"], out double value) && value is >= 0 and <= 2
            ? value
            : throw StdParameters.Invalid("parameter 'temperature' must be a number from 0 to 2");
    }
}
