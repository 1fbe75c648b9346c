using Spindle.Core.Costs;

namespace Spindle.Core.Orchestration;

/// <summary>
/// What one <see cref="WorkflowMachine"/> decided in its transaction: the events to append, the cost lines and cache
/// entries to write, the activities to look up in the result cache, and whom to wake once it commits. The store reads
/// it; only the machine adds to it. It accumulates over every call on that machine (several completions in one batch,
/// the cache hits they lead to, the hand-over of what they made ready), so the store reads it after the last call.
/// </summary>
public sealed class WorkflowDecision
{
    private readonly List<WorkflowEvent> _events = [];
    private readonly HashSet<string> _readyRoutingKeys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _delayedRoutingKeys = new(StringComparer.Ordinal);
    private readonly List<CostLine> _costLines = [];
    private readonly List<CacheEntry> _cacheWrites = [];
    private readonly List<(ActivityState Activity, string Key)> _cacheCandidates = [];
    private readonly List<Maps.MapRequest> _mapRequests = [];
    private readonly List<ChildStart> _childStarts = [];

    internal WorkflowDecision()
    {
    }

    /// <summary>History entries, in the order they happened.</summary>
    public IReadOnlyList<WorkflowEvent> Events => _events;

    /// <summary>Routing keys that gained activities claimable right now.</summary>
    public IReadOnlySet<string> ReadyRoutingKeys => _readyRoutingKeys;

    /// <summary>Earliest future time at which a queued activity becomes claimable, per routing key.</summary>
    public IReadOnlyDictionary<string, long> DelayedRoutingKeys => _delayedRoutingKeys;

    /// <summary>Whether the workflow reached a terminal status in this decision.</summary>
    public bool BecameTerminal { get; private set; }

    /// <summary>Cost lines of this decision (reported spend, budget events); the store writes them with the events.</summary>
    public IReadOnlyList<CostLine> CostLines => _costLines;

    /// <summary>Results to keep in the result cache (docs/workflow-format.md, Result cache).</summary>
    public IReadOnlyList<CacheEntry> CacheWrites => _cacheWrites;

    /// <summary>
    /// Activities queued by this decision with <c>settings.cache</c>, and their cache keys: the store looks them up.
    /// A hit completed through <see cref="WorkflowMachine.CompleteFromCache"/> may queue more, appended here.
    /// </summary>
    public IReadOnlyList<(ActivityState Activity, string Key)> CacheCandidates => _cacheCandidates;

    /// <summary>
    /// What the store must do with map items that are not loaded (docs/architecture.md#maps), in order: the store
    /// works through them while deciding (as with <see cref="CacheCandidates"/>), answering loads and collections
    /// through <see cref="WorkflowMachine.AddItems"/> and <see cref="WorkflowMachine.FinishMap"/>, which may add more.
    /// </summary>
    public IReadOnlyList<Maps.MapRequest> MapRequests => _mapRequests;

    internal void Add(Maps.MapRequest request) => _mapRequests.Add(request);
    /// <summary>Child workflows to submit in this decision's transaction (WorkflowMachine.Children.cs), in order; the
    /// store works through them after the machine's calls, and answering one may add more.</summary>
    public IReadOnlyList<ChildStart> ChildStarts => _childStarts;

    internal void Add(ChildStart start) => _childStarts.Add(start);

    internal void Add(WorkflowEvent e) => _events.Add(e);

    /// <summary>Records that <paramref name="routingKey"/> has work claimable at <paramref name="at"/> (now or later).</summary>
    internal void NoteReady(string routingKey, long at, long now)
    {
        if (at <= now)
        {
            _readyRoutingKeys.Add(routingKey);
        }
        else if (!_delayedRoutingKeys.TryGetValue(routingKey, out var existing) || at < existing)
        {
            _delayedRoutingKeys[routingKey] = at;
        }
    }

    /// <summary>Everything <paramref name="routingKey"/> could claim was handed out in this decision: nobody to wake.</summary>
    internal void NothingLeftFor(string routingKey) => _readyRoutingKeys.Remove(routingKey);

    internal void MarkTerminal() => BecameTerminal = true;

    internal void Add(CostLine line) => _costLines.Add(line);

    internal void AddRange(IEnumerable<CostLine> lines) => _costLines.AddRange(lines);

    internal void Add(CacheEntry entry) => _cacheWrites.Add(entry);

    internal void AddCacheCandidate(ActivityState activity, string key) => _cacheCandidates.Add((activity, key));
}
