namespace Spindle.Worker.Std.Ai;

/// <summary>Where and with which key one provider is called. <see cref="ToString"/> never shows the key.</summary>
internal sealed record ProviderEndpoint(Uri BaseUrl, string? ApiKey)
{
    /// <summary>
    /// <paramref name="path"/> (e.g. <c>v1/chat/completions</c>) under the base URL; a base URL that already ends with
    /// the path's version segment (the common <c>OPENAI_BASE_URL=…/v1</c>) does not get it twice.
    /// </summary>
    public Uri Url(string path)
    {
        string basePath = BaseUrl.AbsolutePath.TrimEnd('/');
        int slash = path.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0 && basePath.EndsWith("/" + path[..slash], StringComparison.OrdinalIgnoreCase))
        {
            path = path[(slash + 1)..];
        }

        return new Uri(BaseUrl, path);
    }

    public override string ToString() => $"ProviderEndpoint {{ BaseUrl = {BaseUrl}, ApiKey = {(ApiKey is null ? "none" : "***")} }}";
}
