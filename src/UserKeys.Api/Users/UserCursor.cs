using System.Buffers.Binary;
using System.Security.Cryptography;
using UserKeys.Data;
using UserKeys.Data.Users;

namespace UserKeys.Api.Users;

/// <summary>
/// The opaque keyset cursor: the last row's (created_at, id), signed with HMAC-SHA256 under a key the
/// database generated once (migration 0003), so every instance accepts every other's cursors and a
/// forged, edited or truncated cursor is refused (400) instead of yielding a wrong page.
/// Layout before base64url: version (1) | created_at ticks (8) | id (8) | MAC (16).
/// </summary>
internal sealed class UserCursor
{
    private const byte Version = 1;
    private const int PayloadLength = 1 + 8 + 8;
    private const int MacLength = 16;
    private const int Length = PayloadLength + MacLength;

    private byte[]? _key;

    /// <summary>Loads the signing key once per process (one small read, then cached).</summary>
    public async ValueTask EnsureKeyAsync(UnitOfWork unit, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _key) is null)
        {
            Volatile.Write(ref _key, await unit.Secrets.GetAsync(ServiceSecretRepository.CursorHmacKey, cancellationToken).ConfigureAwait(false));
        }
    }

    public string Encode(UserPosition position)
    {
        Span<byte> bytes = stackalloc byte[Length];
        bytes[0] = Version;
        BinaryPrimitives.WriteInt64BigEndian(bytes[1..], position.CreatedAt.Ticks);
        BinaryPrimitives.WriteInt64BigEndian(bytes[9..], position.Id);
        Sign(bytes[..PayloadLength], bytes[PayloadLength..]);
        return Base64UrlEncode(bytes);
    }

    public bool TryDecode(string cursor, out UserPosition position)
    {
        position = default;
        Span<byte> bytes = stackalloc byte[Length];
        if (cursor.Length != 44 || !TryBase64UrlDecode(cursor, bytes) || bytes[0] != Version)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[MacLength];
        Sign(bytes[..PayloadLength], expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, bytes[PayloadLength..]))
        {
            return false;
        }

        var ticks = BinaryPrimitives.ReadInt64BigEndian(bytes[1..]);
        if (ticks is < 0 || ticks > DateTime.MaxValue.Ticks)
        {
            return false;
        }

        position = new UserPosition(new DateTime(ticks, DateTimeKind.Utc), BinaryPrimitives.ReadInt64BigEndian(bytes[9..]));
        return true;
    }

    private void Sign(ReadOnlySpan<byte> payload, Span<byte> mac)
    {
        var key = Volatile.Read(ref _key) ?? throw new InvalidOperationException("The cursor key is not loaded.");
        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, payload, full);
        full[..MacLength].CopyTo(mac);
    }

    private static string Base64UrlEncode(ReadOnlySpan<byte> bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);

    private static bool TryBase64UrlDecode(string text, Span<byte> destination) =>
        System.Buffers.Text.Base64Url.TryDecodeFromChars(text, destination, out var written) && written == destination.Length;
}
