namespace Spindle.Worker.Tests.Ai;

/// <summary>How a scripted stream ends: as the provider finishes, cut off (connection dropped), or with an in-stream error.</summary>
internal enum StreamEnd
{
    Finished,
    Cut,
    Error,
}

/// <summary>
/// Streaming answers in each provider's documented wire format, with the same text, usage and stop reason as the
/// matching <see cref="ProviderAnswers"/> answer. Part <c>i</c> carries text piece <c>i</c> (the opening events ride
/// with the first piece, the closing ones with the last), so a test holding part <c>i</c> holds piece <c>i</c>.
/// </summary>
internal static class StreamedAnswers
{
    public static string GoogleStreamPath(string model) => $"/v1beta/models/{model}:streamGenerateContent";

    public static ScriptedAnswer OpenAi(IReadOnlyList<string> pieces, StreamEnd end = StreamEnd.Finished, Func<int, Task>? beforePart = null)
    {
        var parts = pieces.Select(p => Data($$$"""{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":{{{Quote(p)}}}},"finish_reason":null}]}""")).ToList();
        parts[0] = Data("""{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}""") + parts[0];
        parts[^1] += end switch
        {
            StreamEnd.Finished => Data("""{"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""")
                + Data("""{"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":150,"total_tokens":1350,"prompt_tokens_details":{"cached_tokens":200}}}""")
                + Data("[DONE]"),
            StreamEnd.Error => Data("""{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"""),
            _ => "",
        };
        return Sse(parts, end, beforePart);
    }

    public static ScriptedAnswer Anthropic(IReadOnlyList<string> pieces, StreamEnd end = StreamEnd.Finished, Func<int, Task>? beforePart = null)
    {
        var parts = pieces.Select(p => Event("content_block_delta", $$$"""{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":{{{Quote(p)}}}}}""")).ToList();
        parts[0] = Event("message_start", """
            {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,
             "usage":{"input_tokens":1200,"output_tokens":1,"cache_read_input_tokens":1000,"cache_creation_input_tokens":500}}}
            """.ReplaceLineEndings(""))
            + Event("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""")
            + Event("ping", """{"type":"ping"}""")
            + parts[0];
        parts[^1] += end switch
        {
            StreamEnd.Finished => Event("content_block_stop", """{"type":"content_block_stop","index":0}""")
                + Event("message_delta", """{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":150}}""")
                + Event("message_stop", """{"type":"message_stop"}"""),
            StreamEnd.Error => Event("error", """{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"""),
            _ => "",
        };
        return Sse(parts, end, beforePart);
    }

    public static ScriptedAnswer Google(IReadOnlyList<string> pieces, StreamEnd end = StreamEnd.Finished, Func<int, Task>? beforePart = null)
    {
        var parts = pieces.Select((p, i) => Data($$$"""
            {"candidates":[{"content":{"role":"model","parts":[{"text":{{{Quote(p)}}}}]},"index":0{{{(i == pieces.Count - 1 && end == StreamEnd.Finished ? ",\"finishReason\":\"STOP\"" : "")}}}}],
             "usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":{{{(i == pieces.Count - 1 ? 100 : i + 1)}}},"thoughtsTokenCount":50,"cachedContentTokenCount":400}}
            """.ReplaceLineEndings(""))).ToList();
        parts[0] = Data("""{"candidates":[{"content":{"role":"model","parts":[{"text":"thinking...","thought":true}]},"index":0}]}""") + parts[0];
        if (end == StreamEnd.Error)
        {
            parts[^1] += Data("""{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}""");
        }

        return Sse(parts, end, beforePart);
    }

    public static ScriptedAnswer Ollama(IReadOnlyList<string> pieces, StreamEnd end = StreamEnd.Finished, Func<int, Task>? beforePart = null)
    {
        var parts = pieces.Select(p => Line($$$"""{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","content":{{{Quote(p)}}}},"done":false}""")).ToList();
        parts[^1] += end switch
        {
            StreamEnd.Finished => Line("""{"model":"llama3.2","created_at":"2025-01-01T00:00:01Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":30,"eval_count":12}"""),
            StreamEnd.Error => Line("""{"error":"model runner has unexpectedly stopped"}"""),
            _ => "",
        };
        return new ScriptedAnswer(200, "") { Parts = parts, ContentType = "application/x-ndjson", BeforePart = beforePart, AbortAfterParts = end == StreamEnd.Cut };
    }

    private static ScriptedAnswer Sse(List<string> parts, StreamEnd end, Func<int, Task>? beforePart) =>
        new(200, "") { Parts = parts, ContentType = "text/event-stream", BeforePart = beforePart, AbortAfterParts = end == StreamEnd.Cut };

    private static string Data(string json) => $"data: {json}\n\n";

    private static string Event(string type, string json) => $"event: {type}\ndata: {json}\n\n";

    private static string Line(string json) => json + "\n";

    private static string Quote(string text) => System.Text.Json.JsonSerializer.Serialize(text);
}
