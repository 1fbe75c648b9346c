namespace Spindle.Worker.Tests.Ai;

/// <summary>Successful answers in each provider's documented wire format (streaming off).</summary>
internal static class ProviderAnswers
{
    public const string OpenAiPath = "/v1/chat/completions";
    public const string AnthropicPath = "/v1/messages";
    public const string OllamaPath = "/api/chat";

    public static string GooglePath(string model) => $"/v1beta/models/{model}:generateContent";

    public static ScriptedAnswer OpenAi(string content = "Hello from OpenAI", long prompt = 1200, long completion = 150, long cached = 200) => new(200, $$$"""
        {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": {{{Quote(content)}}}}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": {{{prompt}}}, "completion_tokens": {{{completion}}}, "total_tokens": {{{prompt + completion}}},
                   "prompt_tokens_details": {"cached_tokens": {{{cached}}} } } }
        """);

    public static ScriptedAnswer Anthropic(string text = "Hello from Claude") => new(200, $$$"""
        {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
         "content": [{"type": "text", "text": {{{Quote(text)}}}}],
         "stop_reason": "end_turn",
         "usage": {"input_tokens": 1200, "output_tokens": 150, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 500}}
        """);

    public static ScriptedAnswer Google(string text = "Hello from Gemini") => new(200, $$$"""
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "thinking...", "thought": true}, {"text": {{{Quote(text)}}}}]}, "finishReason": "STOP"}],
         "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 100, "thoughtsTokenCount": 50, "cachedContentTokenCount": 400, "totalTokenCount": 1150}}
        """);

    public static ScriptedAnswer Ollama(string content = "Hello from Llama") => new(200, $$$"""
        {"model": "llama3.2", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": {{{Quote(content)}}}},
         "done": true, "done_reason": "stop", "prompt_eval_count": 30, "eval_count": 12}
        """);

    public static ScriptedAnswer Error(int status, string message = "upstream trouble", IReadOnlyDictionary<string, string>? headers = null) =>
        new(status, $$$"""{"error": {"message": {{{Quote(message)}}}, "type": "error"}}""", headers);

    private static string Quote(string text) => System.Text.Json.JsonSerializer.Serialize(text);
}
