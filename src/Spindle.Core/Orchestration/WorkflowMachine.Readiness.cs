using System.Text.Json.Nodes;
using Spindle.Core.Definitions;
using Spindle.Core.Templates;

namespace Spindle.Core.Orchestration;

// Readiness and loops: which not_scheduled activities run, skip or wait, when a loop goes round again (docs/workflow-format.md, Loops),
// and when the workflow is done.
public sealed partial class WorkflowMachine
{
    // ---- readiness -----------------------------------------------------------------------------------------

    private enum Readiness { Wait, Ready, Skip, Failed }

    /// <summary>Evaluates not_scheduled activities until nothing changes, then checks whether the workflow is done.</summary>
    private void Advance()
    {
        bool changed;
        do
        {
            changed = false;
            foreach (var activity in Definition.Activities)
            {
                if (!IsRunning)
                {
                    return;
                }
                var state = _wf.Activities[activity.Key];
                if (state.Status != ActivityStatus.NotScheduled)
                {
                    continue;
                }
                switch (Evaluate(activity, state, out var skipReason))
                {
                    case Readiness.Ready:
                        if (activity.IsLoopActivity && state.Runs >= (activity.IterationLimit ?? 100))
                        {
                            Skip(state, "iteration limit reached");
                        }
                        else
                        {
                            Enqueue(activity, state);
                        }
                        changed = true;
                        break;
                    case Readiness.Skip:
                        Skip(state, skipReason!);
                        changed = true;
                        break;
                    case Readiness.Failed:
                        changed = true;
                        break;
                }
            }
        }
        while (changed);
        CheckFinished();
    }

    private Readiness Evaluate(ActivityDefinition activity, ActivityState state, out string? skipReason)
    {
        skipReason = null;
        var anyApplicable = false;
        var anyForward = false;
        string? broken = null;
        foreach (var edge in activity.DependsOn)
        {
            if (edge.IsBackEdge)
            {
                continue;
            }
            anyForward = true;
            if (!IsSettled(edge.ActivityKey, activity))
            {
                return Readiness.Wait;
            }
        }
        if (!anyForward)
        {
            return Readiness.Ready;
        }
        foreach (var edge in activity.DependsOn)
        {
            if (edge.IsBackEdge)
            {
                continue;
            }
            var upstream = _wf.Activities[edge.ActivityKey];
            if (edge.Conditions.Count > 0)
            {
                bool allTrue;
                try
                {
                    allTrue = ConditionsHold(edge, state);
                }
                catch (TemplateException ex)
                {
                    FailBeforeRun(state, $"depends_on[{edge.ActivityKey}].conditions", ex);
                    return Readiness.Failed;
                }
                if (allTrue)
                {
                    anyApplicable = true;
                }
            }
            else if (upstream.Status == ActivityStatus.Completed)
            {
                anyApplicable = true;
            }
            else
            {
                broken ??= $"dependency '{edge.ActivityKey}' is {upstream.Status}";
            }
        }
        if (broken is null && anyApplicable)
        {
            return Readiness.Ready;
        }
        skipReason = broken ?? "no dependency condition was met";
        return Readiness.Skip;
    }

    private bool ConditionsHold(DependencyEdge edge, ActivityState target)
    {
        var scope = new TemplateScope(_wf, target, NoSecrets());
        // One budget for all conditions of the edge, as for all templates of an activity.
        var budget = new TemplateBudget(_defaults.TemplateLimits);
        foreach (var condition in edge.Conditions)
        {
            if (!TemplateEvaluator.IsTruthy(TemplateEvaluator.Resolve(condition, scope, budget)))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>An edge from D settles when D is terminal and, if D is in a loop the dependent is not part of, that loop has settled.</summary>
    private bool IsSettled(string upstreamKey, ActivityDefinition dependent)
    {
        if (!_wf.Activities[upstreamKey].IsTerminal)
        {
            return false;
        }
        foreach (var loop in Definition.Loops)
        {
            if (!loop.Body.Contains(upstreamKey) || loop.Body.Contains(dependent.Key))
            {
                continue;
            }
            foreach (var member in loop.Body)
            {
                if (!_wf.Activities[member].IsTerminal)
                {
                    return false;
                }
            }
        }
        return true;
    }

    // ---- loops ----------------------------------------------------------------------------------------------

    private void FireBackEdges(ActivityState tail)
    {
        foreach (var loop in Definition.Loops)
        {
            if (loop.Tail != tail.Key || !IsRunning)
            {
                continue;
            }
            var headDef = Definition.Find(loop.Head)!;
            var head = _wf.Activities[loop.Head];
            var edge = headDef.DependsOn.First(e => e.IsBackEdge && e.ActivityKey == loop.Tail);
            if (head.Runs >= (headDef.IterationLimit ?? 100))
            {
                continue;
            }
            bool fires;
            try
            {
                fires = edge.Conditions.Count == 0 || ConditionsHold(edge, head);
            }
            catch (TemplateException ex)
            {
                if (head.IsTerminal)
                {
                    // The head gets the error so that the loop ends visibly instead of settling as if it had exited.
                    FailBeforeRun(head, $"depends_on[{edge.ActivityKey}].conditions", ex);
                }
                continue;
            }
            if (!fires || !head.IsTerminal)
            {
                continue; // a second firing into a head that is already running again has no effect
            }
            foreach (var member in loop.Body)
            {
                var state = _wf.Activities[member];
                if (member != loop.Head && state.IsTerminal)
                {
                    state.Status = ActivityStatus.NotScheduled;
                    Touch(state);
                }
            }
            Enqueue(headDef, head);
        }
    }

    private void CheckFinished()
    {
        if (!IsRunning)
        {
            return;
        }
        ActivityState? firstFailed = null;
        foreach (var a in _wf.Activities.Values)
        {
            if (!a.IsTerminal)
            {
                return;
            }
            if (a.Status == ActivityStatus.Failed && (firstFailed is null || (a.CompletedAt ?? 0) < (firstFailed.CompletedAt ?? 0)))
            {
                firstFailed = a;
            }
        }
        if (firstFailed is null)
        {
            SetWorkflowStatus(WorkflowStatus.Completed);
            Emit(EventTypes.WorkflowCompleted, null, new JsonObject());
        }
        else
        {
            _wf.ErrorMessage = firstFailed.ErrorMessage;
            SetWorkflowStatus(WorkflowStatus.Failed);
            Emit(EventTypes.WorkflowFailed, null, new JsonObject
            {
                ["reason"] = $"Activity '{firstFailed.Key}' failed: {firstFailed.ErrorMessage}",
            });
        }
    }
}
