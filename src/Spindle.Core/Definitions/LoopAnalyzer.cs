namespace Spindle.Core.Definitions;

/// <summary>
/// Loop analysis of docs/workflow-format.md over activities 0..n-1 in definition order. An edge D → A exists for every
/// <c>depends_on</c> entry of A naming D; <see cref="GraphEdge.Entry"/> is the entry's position in A's (sorted)
/// <c>depends_on</c>, which makes parallel edges distinguishable.
/// </summary>
internal static class LoopAnalyzer
{
    internal readonly record struct GraphEdge(int From, int To, int Entry, bool Conditioned);

    /// <param name="BackEdges">In the order they were picked.</param>
    /// <param name="InvalidCycles">Check-10 messages for back-edges without an exit.</param>
    internal sealed record Result(IReadOnlyList<GraphEdge> BackEdges, IReadOnlyList<string> InvalidCycles);

    /// <summary>Loop analysis (docs/workflow-format.md, Loops), steps 1–3: picks back-edges until the rest is acyclic and checks each one for an exit.</summary>
    public static Result FindBackEdges(int n, IReadOnlyList<GraphEdge> edges, IReadOnlyList<bool> hasIterationLimit,
        IReadOnlyList<string> keys)
    {
        // Out-edges in definition order of the dependent (then entry order for parallel edges).
        var outEdges = new List<GraphEdge>[n];
        for (var i = 0; i < n; i++)
        {
            outEdges[i] = [];
        }
        foreach (var e in edges)
        {
            outEdges[e.From].Add(e);
        }
        foreach (var list in outEdges)
        {
            list.Sort((a, b) => a.To != b.To ? a.To.CompareTo(b.To) : a.Entry.CompareTo(b.Entry));
        }

        var removed = new HashSet<GraphEdge>();
        var backEdges = new List<GraphEdge>();
        var invalid = new List<string>();
        while (FindCycle(n, outEdges, removed) is { } cycle)
        {
            // The cycle's back-edge is its conditioned edge whose target is declared earliest; else the closing edge.
            var closing = cycle[^1];
            var back = closing;
            var best = int.MaxValue;
            foreach (var e in cycle)
            {
                if (e.Conditioned && e.To < best)
                {
                    best = e.To;
                    back = e;
                }
            }
            removed.Add(back);
            backEdges.Add(back);
            if (!back.Conditioned && !hasIterationLimit[back.From] && !hasIterationLimit[back.To])
            {
                invalid.Add("Workflow contains an invalid cycle (not a valid loop): " + Describe(cycle, back, keys));
            }
        }
        return new Result(backEdges, invalid);
    }

    /// <summary>The cycle as "head -> … -> tail -> head", starting at the back-edge's target.</summary>
    private static string Describe(List<GraphEdge> cycle, GraphEdge back, IReadOnlyList<string> keys)
    {
        // cycle edges are consecutive: e[k].To == e[k+1].From, and the last edge returns to the first node.
        var start = cycle.FindIndex(e => e.Equals(back));
        var names = new List<string>();
        for (var k = 1; k <= cycle.Count; k++)
        {
            names.Add(keys[cycle[(start + k) % cycle.Count].From]);
        }
        names.Add(keys[back.To]);
        return string.Join(" -> ", names);
    }

    /// <summary>
    /// Depth-first search from activities in definition order, following out-edges in order; returns the edges of
    /// the first cycle closed (v → … → u, then the closing edge u → v last), or null when the graph is acyclic.
    /// </summary>
    private static List<GraphEdge>? FindCycle(int n, List<GraphEdge>[] outEdges, HashSet<GraphEdge> removed)
    {
        var state = new byte[n]; // 0 unvisited, 1 on the current path, 2 done
        var position = new int[n];
        var stack = new List<(int Node, int Next, GraphEdge? In)>();
        for (var s = 0; s < n; s++)
        {
            if (state[s] != 0)
            {
                continue;
            }
            state[s] = 1;
            position[s] = 0;
            stack.Add((s, 0, null));
            while (stack.Count > 0)
            {
                var (node, next, inEdge) = stack[^1];
                if (next >= outEdges[node].Count)
                {
                    state[node] = 2;
                    stack.RemoveAt(stack.Count - 1);
                    continue;
                }
                stack[^1] = (node, next + 1, inEdge);
                var e = outEdges[node][next];
                if (removed.Contains(e))
                {
                    continue;
                }
                if (state[e.To] == 1)
                {
                    var cycle = new List<GraphEdge>();
                    for (var k = position[e.To] + 1; k < stack.Count; k++)
                    {
                        cycle.Add(stack[k].In!.Value);
                    }
                    cycle.Add(e);
                    return cycle;
                }
                if (state[e.To] == 0)
                {
                    state[e.To] = 1;
                    position[e.To] = stack.Count;
                    stack.Add((e.To, 0, e));
                }
            }
        }
        return null;
    }

    /// <summary>Loop analysis, step 4: every activity on a path head → tail using no back-edge, both ends included; ascending.</summary>
    public static List<int> Body(int n, IReadOnlyList<GraphEdge> edges, IReadOnlySet<GraphEdge> backEdges, int head, int tail)
    {
        var forward = new List<int>[n];
        var backward = new List<int>[n];
        for (var i = 0; i < n; i++)
        {
            forward[i] = [];
            backward[i] = [];
        }
        foreach (var e in edges)
        {
            if (!backEdges.Contains(e))
            {
                forward[e.From].Add(e.To);
                backward[e.To].Add(e.From);
            }
        }
        var fromHead = Reach(n, forward, head);
        var toTail = Reach(n, backward, tail);
        var body = new List<int>();
        for (var i = 0; i < n; i++)
        {
            if ((fromHead[i] && toTail[i]) || i == head || i == tail)
            {
                body.Add(i);
            }
        }
        return body;
    }

    private static bool[] Reach(int n, List<int>[] adjacency, int start)
    {
        var seen = new bool[n];
        var todo = new Stack<int>();
        seen[start] = true;
        todo.Push(start);
        while (todo.Count > 0)
        {
            foreach (var next in adjacency[todo.Pop()])
            {
                if (!seen[next])
                {
                    seen[next] = true;
                    todo.Push(next);
                }
            }
        }
        return seen;
    }
}
