using System.Text.Json;
using System.Text.Json.Nodes;
using static Spindle.Cli.ConsoleRenderer;

namespace Spindle.Cli;

/// <summary>
/// With <c>spindle run --stream</c>: subscribes to the live output of each activity when it starts and prints its
/// chunks (LLM tokens, or whatever the worker publishes) as they arrive. The live output is a bonus: a stream that
/// cannot be read is left alone, and the progress lines go on.
/// </summary>
internal sealed class ActivityOutputWatcher(SpindleClient spindle, string workflowId, LiveOutput output, CancellationToken cancellationToken)
{
    private readonly SpindleClient _spindle = spindle;
    private readonly string _workflowId = workflowId;
    private readonly LiveOutput _output = output;
    private readonly CancellationToken _cancellationToken = cancellationToken;

    // An activity that never published has no stream end to wait for; once it has ended, chunks already in flight
    // arrive well within this.
    private static readonly TimeSpan QuietGrace = TimeSpan.FromMilliseconds(500);

    // One that did publish ends its stream before its result is recorded; this only bounds a lost end frame.
    private static readonly TimeSpan EndGrace = TimeSpan.FromSeconds(10);

    private readonly Dictionary<string, Watch> _watches = [];

    /// <summary>
    /// Starts or winds down watches as the run's events arrive. When an activity that printed output ends, this waits
    /// for the rest of its output (its stream ends before its result is recorded), so that its lines come before the
    /// progress line of its end.
    /// </summary>
    public async Task OnEventAsync(JsonObject ev)
    {
        var label = EventFormatter.Label(ev);
        switch (Str(ev["event_type"]))
        {
            case "ActivityStarted" when !_watches.ContainsKey(label):
                _watches[label] = new Watch(this, Str(ev["activity_key"]), label);
                break;
            case "ActivityCompleted" or "ActivityFailed" or "ActivityCancelled" or "ActivitySkipped" when _watches.TryGetValue(label, out var watch):
                watch.ActivityEnded();
                if (watch.SawChunk)
                {
                    await watch.Running;
                }
                break;
        }
    }

    /// <summary>Waits for every watch to print what it has (called once the run has ended).</summary>
    public async Task DrainAsync()
    {
        foreach (var watch in _watches.Values)
        {
            watch.ActivityEnded();
        }
        await Task.WhenAll(_watches.Values.Select(w => w.Running));
    }

    private sealed class Watch
    {
        private readonly ActivityOutputWatcher _owner;
        private readonly string _key;
        private readonly string _label;
        private readonly CancellationTokenSource _stop;
        private volatile bool _sawChunk;

        public Watch(ActivityOutputWatcher owner, string key, string label)
        {
            _owner = owner;
            _key = key;
            _label = label;
            _stop = CancellationTokenSource.CreateLinkedTokenSource(owner._cancellationToken);
            Running = RunAsync();
        }

        public Task Running { get; }

        public bool SawChunk => _sawChunk;

        public void ActivityEnded()
        {
            try
            {
                _stop.CancelAfter(_sawChunk ? EndGrace : QuietGrace);
            }
            catch (ObjectDisposedException)
            {
                // The watch has already finished.
            }
        }

        private async Task RunAsync()
        {
            try
            {
                await foreach (var item in _owner._spindle.StreamActivityAsync(_owner._workflowId, _key, _stop.Token))
                {
                    if (item.EventType != "message" || Parse(item.Data) is not { } frame)
                    {
                        continue;
                    }
                    var type = Str(frame["type"]);
                    if (type == "token")
                    {
                        _sawChunk = true;
                        await _owner._output.ChunkAsync(_label, Str(frame["text"]), _stop.Token);
                    }
                    else if (type is "complete" or "error")
                    {
                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException or ApiCallException or ServerUnreachableException)
            {
                // Wound down, or no live output to be had: the progress lines report the activity either way.
            }
            finally
            {
                await _owner._output.EndChunksAsync(_label);
                _stop.Dispose();
            }
        }

        private static JsonObject? Parse(string data)
        {
            try
            {
                return JsonNode.Parse(data) as JsonObject;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }
}
