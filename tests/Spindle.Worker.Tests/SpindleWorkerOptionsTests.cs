namespace Spindle.Worker.Tests;

public sealed class SpindleWorkerOptionsTests
{
    private static SpindleWorkerOptions FromEnv(Dictionary<string, string> variables) =>
        SpindleWorkerOptions.FromEnvironment(name => variables.GetValueOrDefault(name));

    [Fact]
    public void Constructor_Defaults_MatchProtocol()
    {
        var options = new SpindleWorkerOptions();
        Assert.Null(options.ApiUrl);
        Assert.Equal("std", options.RoutingKey);
        Assert.Matches("^worker_[0-9a-f]{12}$", options.WorkerId);
        Assert.Equal(16, options.MaxConcurrency);
        Assert.Equal(10, options.PollBatchSize);
        Assert.Equal(20, options.PollWaitSeconds);
        Assert.Equal(TimeSpan.FromMilliseconds(100), options.PollInterval);
        Assert.Equal(TimeSpan.FromSeconds(300), options.DefaultActivityTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), options.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(30), options.ShutdownTimeout);
        Assert.Null(options.ClientId);
        Assert.Null(options.ActivityNames);
    }

    [Fact]
    public void NewWorkerId_CalledTwice_DiffersEachTime() =>
        Assert.NotEqual(SpindleWorkerOptions.NewWorkerId(), SpindleWorkerOptions.NewWorkerId());

    [Fact]
    public void FromEnvironment_SpindleVariables_AreRead()
    {
        SpindleWorkerOptions options = FromEnv(new()
        {
            ["SPINDLE_API_URL"] = "http://127.0.0.1:8080",
            ["SPINDLE_CLIENT_ID"] = "id",
            ["SPINDLE_CLIENT_SECRET"] = "secret",
            ["SPINDLE_WORKER"] = "payments",
            ["SPINDLE_WORKER_ID"] = "payments-1",
            ["SPINDLE_WORKER_POLL_MAX_ACTIVITIES"] = "5",
            ["SPINDLE_WORKER_POLL_INTERVAL"] = "0.25",
            ["SPINDLE_WORKER_POLL_WAIT_SECONDS"] = "10",
            ["SPINDLE_WORKER_MAX_ACTIVITIES"] = "4",
            ["SPINDLE_WORKER_ACTIVITY_TIMEOUT"] = "60",
            ["SPINDLE_WORKER_HEARTBEAT_INTERVAL"] = "15s",
            ["SPINDLE_WORKER_SHUTDOWN_TIMEOUT"] = "7.5",
        });

        Assert.Equal(new Uri("http://127.0.0.1:8080"), options.ApiUrl);
        Assert.Equal("id", options.ClientId);
        Assert.Equal("secret", options.ClientSecret);
        Assert.Equal("payments", options.RoutingKey);
        Assert.Equal("payments-1", options.WorkerId);
        Assert.Equal(5, options.PollBatchSize);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.PollInterval);
        Assert.Equal(10, options.PollWaitSeconds);
        Assert.Equal(4, options.MaxConcurrency);
        Assert.Equal(TimeSpan.FromSeconds(60), options.DefaultActivityTimeout);
        Assert.Equal(TimeSpan.FromSeconds(15), options.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(7.5), options.ShutdownTimeout);
        options.Validate();
    }

    [Fact]
    public void FromEnvironment_OnlyKruxiaFlowVariables_AreAccepted()
    {
        SpindleWorkerOptions options = FromEnv(new()
        {
            ["KRUXIAFLOW_API_URL"] = "http://legacy:8080/",
            ["KRUXIAFLOW_CLIENT_ID"] = "legacy-id",
            ["KRUXIAFLOW_WORKER_MAX_ACTIVITIES"] = "3",
        });

        Assert.Equal(new Uri("http://legacy:8080/"), options.ApiUrl);
        Assert.Equal("legacy-id", options.ClientId);
        Assert.Equal(3, options.MaxConcurrency);
        Assert.Equal("std", options.RoutingKey);
    }

    [Fact]
    public void FromEnvironment_BothPrefixes_SpindleWins()
    {
        SpindleWorkerOptions options = FromEnv(new()
        {
            ["SPINDLE_API_URL"] = "http://new:1/",
            ["KRUXIAFLOW_API_URL"] = "http://old:2/",
            ["SPINDLE_WORKER_ID"] = "  ",
            ["KRUXIAFLOW_WORKER_ID"] = "old-id",
        });

        Assert.Equal(new Uri("http://new:1/"), options.ApiUrl);
        Assert.Equal("old-id", options.WorkerId);
    }

    [Fact]
    public void FromEnvironment_NothingSet_KeepsDefaults()
    {
        SpindleWorkerOptions options = FromEnv([]);
        Assert.Null(options.ApiUrl);
        Assert.Null(options.ClientId);
        Assert.Equal(16, options.MaxConcurrency);
        Assert.Throws<InvalidOperationException>(options.Validate);
    }

    [Theory]
    [InlineData("SPINDLE_WORKER_MAX_ACTIVITIES", "many")]
    [InlineData("SPINDLE_WORKER_POLL_INTERVAL", "fast")]
    [InlineData("SPINDLE_API_URL", "not a url")]
    public void FromEnvironment_MalformedValue_ThrowsFormatException(string name, string value) =>
        Assert.Throws<FormatException>(() => FromEnv(new() { [name] = value }));

    [Theory]
    [InlineData(0, 10, 20)]
    [InlineData(16, 0, 20)]
    [InlineData(16, 101, 20)]
    [InlineData(16, 10, 31)]
    public void Validate_OutOfRange_Throws(int concurrency, int batch, int wait)
    {
        var options = new SpindleWorkerOptions { ApiUrl = new Uri("http://x/"), MaxConcurrency = concurrency, PollBatchSize = batch, PollWaitSeconds = wait };
        Assert.Throws<InvalidOperationException>(options.Validate);
    }

    [Fact]
    public void Worker_FormerName_ReadsAndWritesRoutingKey()
    {
        // The pre-rename member stays for users' code; it must be the same value, not a second setting.
#pragma warning disable CS0618
        var options = new SpindleWorkerOptions { Worker = "payments" };
        Assert.Equal("payments", options.RoutingKey);
        options.RoutingKey = "gpu";
        Assert.Equal("gpu", options.Worker);
        var context = new ActivityContext { WorkflowId = "wf", ActivityId = "a", ActivityKey = "k", ActivityName = "echo", Worker = "py-std" };
        Assert.Equal("py-std", context.RoutingKey);
        Assert.Equal("py-std", context.Worker);
#pragma warning restore CS0618
    }
}
