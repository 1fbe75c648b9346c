using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Spindle.Worker.Hosting;
using Spindle.Worker.Std;
using Spindle.Worker.Tests.Support;

namespace Spindle.Worker.Tests;

public sealed class HostingTests
{
    [Fact]
    public async Task AddSpindleStdWorker_HostStarted_ServesStdActivitiesOverHttp()
    {
        await using ScriptedProtocolServer server = await ScriptedProtocolServer.StartAsync();
        server.Enqueue("a1", "echo", parameters: new JsonObject { ["x"] = 1 });

        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSpindleStdWorker(options =>
        {
            options.ApiUrl = server.BaseAddress;
            options.WorkerId = "worker_hosted";
            options.PollWaitSeconds = 1;
            options.ShutdownTimeout = TimeSpan.FromMilliseconds(200);
        });
        using IHost host = builder.Build();
        await host.StartAsync();
        try
        {
            Report report = await server.WaitForReportAsync("a1", TimeSpan.FromSeconds(5));
            Assert.Equal("""{"echo":{"x":1}}""", report.Output!.ToJsonString());
            Assert.Equal("worker_hosted", (string?)report.Body["worker_id"]);

            SpindleWorkerService service = Assert.Single(host.Services.GetServices<IHostedService>().OfType<SpindleWorkerService>());
            Assert.Equal(["echo", "email_send", "embedding", "http_request", "llm_prompt", "postgres_query", "postgres_transaction"], service.Worker.Registry.Names);
            Assert.Equal("std", service.Worker.Options.RoutingKey);
            Assert.True(host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout >= TimeSpan.FromSeconds(10.2));
        }
        finally
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await host.StopAsync(stop.Token);
        }
    }
}
