using Spindle.Worker.Std;
using Spindle.Worker.Std.Ai;
using Spindle.Worker.Std.Email;

namespace Spindle.Worker.Tests.Ai;

public sealed class StdRegistrationTests
{
    [Fact]
    public async Task Register_WithSettings_RegistersAiAndEmailActivities()
    {
        var registry = new ActivityRegistry();
        await using StdActivities std = StdActivities.Register(registry, aiSettings: new AiSettings(), smtpSettings: new SmtpSettings());

        Assert.True(registry.Contains(StdActivities.LlmPrompt));
        Assert.True(registry.Contains(StdActivities.Embedding));
        Assert.True(registry.Contains(StdActivities.EmailSend));
        Assert.IsType<EnvironmentApiFileSource>(std.Email.Files);
    }

    [Fact]
    public async Task UseApiClient_WorkerClient_BecomesTheFileSource()
    {
        await using StdActivities std = StdActivities.Register(new ActivityRegistry(), aiSettings: new AiSettings(), smtpSettings: new SmtpSettings());
        using var client = new SpindleApiClient(new SpindleWorkerOptions { ApiUrl = new Uri("http://127.0.0.1:1/") });

        std.UseApiClient(client);

        Assert.IsType<SpindleApiFileSource>(std.Email.Files);
    }
}
