using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Spindle.Protocol;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli.Commands;

/// <summary><c>spindle schedules create|list|show|pause|resume|trigger|backfill|delete</c>: recurring workflows.</summary>
internal static class SchedulesCommand
{
    private const string Base = "api/v1/schedules";

    public static IReadOnlyList<CommandSpec> Create()
    {
        var parent = new Command("schedules", "Create and manage schedules: workflows submitted on a cron or an interval.");
        List<CommandSpec> children = [CreateCommand(), ListCommand(), Show(), Pause(), Resume(), Trigger(), Backfill(), Delete()];
        foreach (var child in children)
        {
            parent.Subcommands.Add(child.Command);
        }
        const string details =
            "Times are shown in UTC (the server's clock) and in this machine's local time. A schedule can also be declared " +
            "in a definition's YAML (schedules:), which `spindle deploy` creates or updates.";
        return
        [
            new CommandSpec(parent, details, """
                                             spindle schedules create nightly-report daily_report --cron "0 6 * * *" --timezone Europe/Berlin
                                             spindle schedules list
                                             spindle schedules pause nightly-report --note "holiday freeze"
                                             """),
            .. children,
        ];
    }

    private static CommandSpec CreateCommand()
    {
        var name = new Argument<string>("NAME") { Description = "Unique schedule name" };
        var definition = new Argument<string>("DEFINITION") { Description = "Definition to submit" };
        var cron = new Option<string?>("--cron") { Description = "Cron: 5 fields, or 6 with seconds first", HelpName = "EXPR" };
        var every = new Option<long?>("--every") { Description = "Interval in seconds (instead of --cron)", HelpName = "SECONDS" };
        var zone = new Option<string?>("--timezone") { Description = "IANA time zone of the cron (default UTC)", HelpName = "ZONE" };
        var input = new Option<string?>("--input") { Description = "Input of each run (a JSON object)", HelpName = "JSON" };
        var overlap = new Option<string?>("--overlap") { Description = "skip (default), allow, buffer_one or cancel_other", HelpName = "POLICY" };
        var command = new Command("create", "Create a schedule.");
        command.Arguments.Add(name);
        command.Arguments.Add(definition);
        command.Options.Add(cron);
        command.Options.Add(every);
        command.Options.Add(zone);
        command.Options.Add(input);
        command.Options.Add(overlap);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            var body = new JsonObject
            {
                ["name"] = io.Parse.GetValue(name),
                ["definition_name"] = io.Parse.GetValue(definition),
                ["cron"] = io.Parse.GetValue(cron),
                ["interval_seconds"] = io.Parse.GetValue(every),
                ["timezone"] = io.Parse.GetValue(zone),
                ["overlap_policy"] = io.Parse.GetValue(overlap),
            };
            if (io.Parse.GetValue(input) is { } text)
            {
                body["input"] = JsonObjectOption(text, "--input");
            }
            foreach (var key in body.Where(p => p.Value is null).Select(p => p.Key).ToList())
            {
                body.Remove(key);
            }
            using var spindle = client.CreateClient(io.Parse);
            var created = await spindle.CallAsync(HttpMethod.Post, Base, body, SpindleJsonContext.Default.Schedule, cancellationToken);
            await io.Out.WriteLineAsync(client.WantsJson(io.Parse) ? PrettyJson(created, SpindleJsonContext.Default.Schedule) : Describe(created));
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, "Give exactly one of --cron and --every.", """
                         spindle schedules create hourly-sync sync --every 3600 --input '{"full": false}'
                         """);
    }

    private static CommandSpec ListCommand()
    {
        var command = new Command("list", "List schedules with their next run.");
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var answer = await spindle.CallAsync(HttpMethod.Get, Base, null, SpindleJsonContext.Default.ScheduleList, cancellationToken);
            if (client.WantsJson(io.Parse))
            {
                await io.Out.WriteLineAsync(PrettyJson(answer, SpindleJsonContext.Default.ScheduleList));
                return CommandSupport.Ok;
            }
            var rows = answer.Schedules.Select(s => new[]
            {
                s.Name, s.DefinitionName, Cadence(s), s.Enabled ? "enabled" : "paused", Both(s.NextRunAt), s.Id,
            }).ToList();
            await io.Out.WriteLineAsync(rows.Count == 0 ? "no schedules" : Table(["NAME", "DEFINITION", "CADENCE", "STATE", "NEXT RUN", "ID"], rows));
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, null, "spindle schedules list");
    }

    private static CommandSpec Show() => OnOne("show", "Show a schedule, its next occurrences and its recent runs.", HttpMethod.Get, "", null);

    private static CommandSpec Pause()
    {
        var note = new Option<string?>("--note") { Description = "Why (shown with the schedule)", HelpName = "TEXT" };
        return OnOne("pause", "Pause a schedule (no occurrence fires until it is resumed).", HttpMethod.Post, "/pause", note);
    }

    private static CommandSpec Resume() => OnOne("resume", "Resume a paused schedule from now.", HttpMethod.Post, "/resume", null);

    private static CommandSpec Trigger()
    {
        var force = new Option<bool>("--ignore-overlap") { Description = "Start even while the previous run is unfinished" };
        return OnOne("trigger", "Run the schedule's workflow now (the overlap policy applies unless --ignore-overlap).", HttpMethod.Post, "/trigger", force);
    }

    private static CommandSpec Delete() => OnOne("delete", "Delete a schedule (its past runs stay).", HttpMethod.Delete, "", null);

    private static CommandSpec Backfill()
    {
        var id = new Argument<string>("SCHEDULE") { Description = "Schedule name or id" };
        var start = new Option<string>("--start") { Description = "Range start (RFC 3339)", HelpName = "TIME", Required = true };
        var end = new Option<string>("--end") { Description = "Range end, exclusive (RFC 3339)", HelpName = "TIME", Required = true };
        var command = new Command("backfill", "Submit the schedule's occurrences in a past range, oldest first.");
        command.Arguments.Add(id);
        command.Options.Add(start);
        command.Options.Add(end);
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var scheduleId = await ResolveAsync(spindle, io.Parse.GetValue(id)!, cancellationToken);
            var answer = await spindle.CallAsync(HttpMethod.Post, $"{Base}/{scheduleId}/backfill",
                new JsonObject { ["start"] = io.Parse.GetValue(start), ["end"] = io.Parse.GetValue(end) },
                SpindleJsonContext.Default.BackfillScheduleResponse, cancellationToken);
            await io.Out.WriteLineAsync(client.WantsJson(io.Parse)
                ? PrettyJson(answer, SpindleJsonContext.Default.BackfillScheduleResponse)
                : $"{answer.Submitted} of {answer.Count} occurrence(s) submitted");
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, null, """
                         spindle schedules backfill nightly-report --start 2026-03-01T00:00:00Z --end 2026-03-08T00:00:00Z
                         """);
    }

    /// <summary>A command on one schedule (by name or id); <paramref name="extra"/> is its one option, if any.</summary>
    private static CommandSpec OnOne(string verb, string description, HttpMethod method, string suffix, Option? extra)
    {
        var id = new Argument<string>("SCHEDULE") { Description = "Schedule name or id" };
        var command = new Command(verb, description);
        command.Arguments.Add(id);
        if (extra is not null)
        {
            command.Options.Add(extra);
        }
        var client = ClientOptions.AddTo(command);
        command.SetCliAction(async (io, cancellationToken) =>
        {
            using var spindle = client.CreateClient(io.Parse);
            var scheduleId = await ResolveAsync(spindle, io.Parse.GetValue(id)!, cancellationToken);
            JsonObject? body = method == HttpMethod.Post ? new JsonObject() : null;
            if (extra is Option<string?> note && io.Parse.GetValue(note) is { } text)
            {
                body!["note"] = text;
            }
            if (extra is Option<bool> flag && io.Parse.GetValue(flag))
            {
                body!["ignore_overlap"] = true;
            }
            var path = $"{Base}/{scheduleId}{suffix}";
            var json = client.WantsJson(io.Parse);
            if (verb == "delete")
            {
                var answer = await spindle.CallAsync(method, path, body, cancellationToken);
                await io.Out.WriteLineAsync(!json ? $"deleted schedule {scheduleId}" : answer is null ? "{}" : PrettyJson(answer));
            }
            else if (verb == "trigger")
            {
                var answer = await spindle.CallAsync(method, path, body, SpindleJsonContext.Default.TriggerScheduleResponse, cancellationToken);
                await io.Out.WriteLineAsync(json
                    ? PrettyJson(answer, SpindleJsonContext.Default.TriggerScheduleResponse)
                    : answer.Outcome + (answer.WorkflowId is { } wf ? $": workflow {wf}" : "") + (answer.Message is { } m ? $" ({m})" : ""));
            }
            else
            {
                var answer = await spindle.CallAsync(method, path, body, SpindleJsonContext.Default.Schedule, cancellationToken);
                await io.Out.WriteLineAsync(json ? PrettyJson(answer, SpindleJsonContext.Default.Schedule) : Describe(answer));
            }
            return CommandSupport.Ok;
        });
        return new CommandSpec(command, null, $"spindle schedules {verb} nightly-report");
    }

    /// <summary>Ids pass through; a name is looked up in the list.</summary>
    private static async Task<string> ResolveAsync(SpindleClient spindle, string nameOrId, CancellationToken cancellationToken)
    {
        if (Guid.TryParse(nameOrId, out _))
        {
            return nameOrId;
        }
        var all = await spindle.CallAsync(HttpMethod.Get, Base, null, SpindleJsonContext.Default.ScheduleList, cancellationToken);
        return all.Schedules.FirstOrDefault(s => s.Name == nameOrId)?.Id
               ?? throw new UsageException($"no schedule named '{nameOrId}' (see `spindle schedules list`)");
    }

    private static string Describe(Schedule s)
    {
        var lines = new List<string>
        {
            $"schedule {s.Name} ({s.Id})",
            $"  definition: {s.DefinitionName}",
            $"  cadence:    {Cadence(s)}, overlap {s.OverlapPolicy}",
            $"  state:      {(s.Enabled ? "enabled" : "paused")}" + (s.Note is { } note ? $" ({note})" : ""),
            string.Create(CultureInfo.InvariantCulture, $"  runs:       {s.RunCount} submitted, {s.SkippedCount} skipped; last {Both(s.LastRunAt)}"),
        };
        if (s.Upcoming.Count > 0)
        {
            lines.Add("  next occurrences (UTC / local):");
            lines.AddRange(s.Upcoming.Select(t => "    " + Both(t)));
        }
        if (s.RecentRuns is { Count: > 0 } runs)
        {
            lines.Add("  recent runs:");
            lines.AddRange(runs.Select(r => $"    {Both(r.OccurrenceAt)}  {r.Outcome}  {r.WorkflowId ?? r.Message}"));
        }
        return string.Join(Environment.NewLine, lines);
    }

    private static string Cadence(Schedule s) => s.Cron is { } cron
        ? $"cron \"{cron}\" {s.Timezone}"
        : string.Create(CultureInfo.InvariantCulture, $"every {s.IntervalSeconds} s");

    /// <summary>A time in UTC (the server's) and in this machine's local time zone.</summary>
    private static string Both(string? time) => ParseTime(time) is { } t
        ? $"{t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}Z / " +
          $"{t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture)}"
        : "-";

    private static JsonObject JsonObjectOption(string text, string option)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw new UsageException($"{option} must be a JSON object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new UsageException($"{option} is not valid JSON: {e.Message}");
        }
    }
}
