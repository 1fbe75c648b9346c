namespace Spindle.Cli;

/// <summary>
/// Progress lines and the live output of running activities on one writer. Chunks of one activity continue its line
/// (<c>  ask ▸ Once upon a time…</c>); a progress line or another activity's chunk starts a new one, so the two stay
/// readable when they interleave.
/// </summary>
internal sealed class LiveOutput(TextWriter writer) : IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private string? _openLabel;

    public async Task LineAsync(string line, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            await CloseLineAsync();
            await writer.WriteLineAsync(line);
            await writer.FlushAsync(cancellationToken);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task ChunkAsync(string label, string text, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            var prefix = $"  {label} ▸ ";
            if (_openLabel != label)
            {
                await CloseLineAsync();
                await writer.WriteAsync(prefix);
                _openLabel = label;
            }
            await writer.WriteAsync(text.ReplaceLineEndings("\n" + new string(' ', prefix.Length)));
            await writer.FlushAsync(cancellationToken);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Ends the open line when it belongs to <paramref name="label"/>.</summary>
    public async Task EndChunksAsync(string label)
    {
        await _lock.WaitAsync();
        try
        {
            if (_openLabel == label)
            {
                await CloseLineAsync();
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Dispose() => _lock.Dispose();

    private async Task CloseLineAsync()
    {
        if (_openLabel is not null)
        {
            await writer.WriteLineAsync();
            _openLabel = null;
        }
    }
}
