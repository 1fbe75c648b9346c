using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MimeKit;

namespace Spindle.Worker.Tests.Email;

/// <summary>One message as the server received it: the envelope and the parsed content.</summary>
internal sealed record ReceivedMail(string MailFrom, IReadOnlyList<string> Recipients, MimeMessage Message, bool Secure, string? AuthenticatedUser);

/// <summary>
/// A minimal SMTP server on 127.0.0.1 for tests (RFC 5321 subset: EHLO/HELO, optional STARTTLS with a self-signed
/// certificate, optional AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT). Replies can be scripted to test failures.
/// </summary>
internal sealed class TinySmtpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<ReceivedMail> _received = new();
    private readonly X509Certificate2? _certificate;
    private readonly Task _acceptLoop;

    public TinySmtpServer(bool offerStartTls = false, bool requireTls = false, (string User, string Password)? credentials = null)
    {
        if (offerStartTls)
        {
            _certificate = CreateSelfSignedCertificate();
        }

        RequireTls = requireTls;
        Credentials = credentials;
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public bool RequireTls { get; }

    public (string User, string Password)? Credentials { get; }

    /// <summary>The certificate presented on STARTTLS, for the client's pinning callback.</summary>
    public X509Certificate2? Certificate => _certificate;

    /// <summary>A reply replacing "250" to MAIL FROM, e.g. "451 4.3.0 Try again later".</summary>
    public string? MailFromReply { get; set; }

    /// <summary>Replies for RCPT TO by address (others get 250).</summary>
    public ConcurrentDictionary<string, string> RecipientReplies { get; } = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyList<ReceivedMail> Received => [.. _received];

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopping the listener ends the loop.
        }

        _stop.Dispose();
        _certificate?.Dispose();
    }

    private static X509Certificate2 CreateSelfSignedCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using X509Certificate2 created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));

        // A certificate with an exportable private key, usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            Stream stream = client.GetStream();
            bool secure = false;
            string? user = null;
            string? mailFrom = null;
            var recipients = new List<string>();
            try
            {
                await WriteAsync(stream, "220 tiny-smtp ready");
                while (await ReadLineAsync(stream) is { } line)
                {
                    string verb = (line.Split(' ', 2)[0]).ToUpperInvariant();
                    string argument = line.Length > verb.Length ? line[(verb.Length + 1)..] : "";
                    switch (verb)
                    {
                        case "EHLO":
                            var lines = new List<string> { "tiny-smtp", "8BITMIME" };
                            if (_certificate is not null && !secure)
                            {
                                lines.Add("STARTTLS");
                            }

                            if (Credentials is not null)
                            {
                                lines.Add("AUTH PLAIN");
                            }

                            for (int i = 0; i < lines.Count; i++)
                            {
                                await WriteAsync(stream, (i == lines.Count - 1 ? "250 " : "250-") + lines[i]);
                            }

                            break;
                        case "HELO":
                            await WriteAsync(stream, "250 tiny-smtp");
                            break;
                        case "STARTTLS" when _certificate is not null && !secure:
                            await WriteAsync(stream, "220 2.0.0 Ready to start TLS");
                            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                            await ssl.AuthenticateAsServerAsync(_certificate, clientCertificateRequired: false, checkCertificateRevocation: false);
                            stream = ssl;
                            secure = true;
                            mailFrom = null;
                            recipients.Clear();
                            break;
                        case "AUTH" when Credentials is { } expected:
                            string[] parts = argument.Split(' ', 2);
                            string payload = parts.Length == 2 ? parts[1] : await PromptAsync(stream);
                            string[] fields = Encoding.UTF8.GetString(Convert.FromBase64String(payload)).Split('\0');
                            if (parts[0].Equals("PLAIN", StringComparison.OrdinalIgnoreCase) && fields.Length == 3 && fields[1] == expected.User && fields[2] == expected.Password)
                            {
                                user = fields[1];
                                await WriteAsync(stream, "235 2.7.0 Authentication successful");
                            }
                            else
                            {
                                await WriteAsync(stream, "535 5.7.8 Authentication credentials invalid");
                            }

                            break;
                        case "MAIL":
                            if (RequireTls && !secure)
                            {
                                await WriteAsync(stream, "530 5.7.0 Must issue a STARTTLS command first");
                            }
                            else if (MailFromReply is { } reply)
                            {
                                await WriteAsync(stream, reply);
                            }
                            else
                            {
                                mailFrom = Angle(argument);
                                recipients.Clear();
                                await WriteAsync(stream, "250 2.1.0 OK");
                            }

                            break;
                        case "RCPT":
                            string recipient = Angle(argument);
                            if (RecipientReplies.TryGetValue(recipient, out string? rcptReply))
                            {
                                await WriteAsync(stream, rcptReply);
                            }
                            else
                            {
                                recipients.Add(recipient);
                                await WriteAsync(stream, "250 2.1.5 OK");
                            }

                            break;
                        case "DATA":
                            await WriteAsync(stream, "354 End data with <CR><LF>.<CR><LF>");
                            byte[] data = await ReadDataAsync(stream);
                            using (var content = new MemoryStream(data))
                            {
                                MimeMessage message = await MimeMessage.LoadAsync(content);
                                _received.Enqueue(new ReceivedMail(mailFrom ?? "", [.. recipients], message, secure, user));
                            }

                            await WriteAsync(stream, "250 2.0.0 Queued as tiny-1");
                            break;
                        case "RSET":
                            mailFrom = null;
                            recipients.Clear();
                            await WriteAsync(stream, "250 2.0.0 OK");
                            break;
                        case "NOOP":
                            await WriteAsync(stream, "250 2.0.0 OK");
                            break;
                        case "QUIT":
                            await WriteAsync(stream, "221 2.0.0 Bye");
                            return;
                        default:
                            await WriteAsync(stream, "502 5.5.2 Command not recognized");
                            break;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
            {
                // The client went away.
            }
            finally
            {
                await stream.DisposeAsync();
            }
        }
    }

    private static async Task<string> PromptAsync(Stream stream)
    {
        await WriteAsync(stream, "334 ");
        return await ReadLineAsync(stream) ?? "";
    }

    private static string Angle(string argument)
    {
        int open = argument.IndexOf('<', StringComparison.Ordinal);
        int close = argument.IndexOf('>', StringComparison.Ordinal);
        return open >= 0 && close > open ? argument[(open + 1)..close] : argument;
    }

    private static async Task WriteAsync(Stream stream, string line)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"));
        await stream.FlushAsync();
    }

    /// <summary>Reads one CRLF-terminated line byte by byte, so nothing is buffered past a STARTTLS switch.</summary>
    private static async Task<string?> ReadLineAsync(Stream stream)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            int read = await stream.ReadAsync(one);
            if (read == 0)
            {
                return bytes.Count == 0 ? null : Encoding.UTF8.GetString([.. bytes]);
            }

            if (one[0] == '\n')
            {
                if (bytes.Count > 0 && bytes[^1] == '\r')
                {
                    bytes.RemoveAt(bytes.Count - 1);
                }

                return Encoding.UTF8.GetString([.. bytes]);
            }

            bytes.Add(one[0]);
        }
    }

    /// <summary>Reads the DATA section up to the lone dot, undoing dot-stuffing.</summary>
    private static async Task<byte[]> ReadDataAsync(Stream stream)
    {
        using var data = new MemoryStream();
        while (await ReadLineAsync(stream) is { } line)
        {
            if (line == ".")
            {
                break;
            }

            string unstuffed = line.StartsWith("..", StringComparison.Ordinal) ? line[1..] : line;
            byte[] bytes = Encoding.UTF8.GetBytes(unstuffed + "\r\n");
            data.Write(bytes);
        }

        return data.ToArray();
    }
}
