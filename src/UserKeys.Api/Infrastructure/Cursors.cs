using System.Buffers.Binary;
using System.Security.Cryptography;
using UserKeys.Data;
using UserKeys.Data.Users;

namespace UserKeys.Api.Infrastructure;

/// <summary>
/// Signs and checks opaque keyset cursors with HMAC-SHA256 under a key the database generated once
/// (migration 0003), so every instance accepts every other's cursors and a forged, edited, truncated or
/// borrowed (another listing's) cursor is refused (400) instead of yielding a wrong page.
/// Layout before base64url: kind (1) | payload | MAC (16). The kind keeps one listing's cursors out of another.
/// </summary>
internal sealed class CursorSigner
{
    private const int MacLength = 16;

    private byte[]? _key;

    /// <summary>Loads the signing key once per process (one small read, then cached).</summary>
    public async ValueTask EnsureKeyAsync(UnitOfWork unit, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _key) is null)
        {
            Volatile.Write(ref _key, await unit.Secrets.GetAsync(ServiceSecretRepository.CursorHmacKey, cancellationToken).ConfigureAwait(false));
        }
    }

    public string Encode(byte kind, ReadOnlySpan<byte> payload)
    {
        Span<byte> bytes = stackalloc byte[1 + payload.Length + MacLength];
        bytes[0] = kind;
        payload.CopyTo(bytes[1..]);
        Sign(bytes[..(1 + payload.Length)], bytes[(1 + payload.Length)..]);
        return System.Buffers.Text.Base64Url.EncodeToString(bytes);
    }

    /// <summary>Fills <paramref name="payload"/> from a cursor of <paramref name="kind"/> that this service signed.</summary>
    public bool TryDecode(string cursor, byte kind, Span<byte> payload)
    {
        var length = 1 + payload.Length + MacLength;
        Span<byte> bytes = stackalloc byte[length];
        if (cursor.Length != System.Buffers.Text.Base64Url.GetEncodedLength(length)
            || !System.Buffers.Text.Base64Url.TryDecodeFromChars(cursor, bytes, out var written) || written != length || bytes[0] != kind)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[MacLength];
        Sign(bytes[..(1 + payload.Length)], expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, bytes[(1 + payload.Length)..]))
        {
            return false;
        }

        bytes[1..(1 + payload.Length)].CopyTo(payload);
        return true;
    }

    private void Sign(ReadOnlySpan<byte> payload, Span<byte> mac)
    {
        var key = Volatile.Read(ref _key) ?? throw new InvalidOperationException("The cursor key is not loaded.");
        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, payload, full);
        full[..MacLength].CopyTo(mac);
    }
}

/// <summary>The users listing's cursor: the last row's (created_at, id). 44 characters.</summary>
internal sealed class UserCursor(CursorSigner signer)
{
    private const byte Kind = 1;

    public ValueTask EnsureKeyAsync(UnitOfWork unit, CancellationToken cancellationToken) => signer.EnsureKeyAsync(unit, cancellationToken);

    public string Encode(UserPosition position)
    {
        Span<byte> payload = stackalloc byte[16];
        BinaryPrimitives.WriteInt64BigEndian(payload, position.CreatedAt.Ticks);
        BinaryPrimitives.WriteInt64BigEndian(payload[8..], position.Id);
        return signer.Encode(Kind, payload);
    }

    public bool TryDecode(string cursor, out UserPosition position)
    {
        position = default;
        Span<byte> payload = stackalloc byte[16];
        if (!signer.TryDecode(cursor, Kind, payload))
        {
            return false;
        }

        var ticks = BinaryPrimitives.ReadInt64BigEndian(payload);
        if (ticks is < 0 || ticks > DateTime.MaxValue.Ticks)
        {
            return false;
        }

        position = new UserPosition(new DateTime(ticks, DateTimeKind.Utc), BinaryPrimitives.ReadInt64BigEndian(payload[8..]));
        return true;
    }
}

/// <summary>A cursor that holds the last row's id (listings newest first, by id). 34 characters.</summary>
internal abstract class IdCursor(CursorSigner signer, byte kind)
{
    public ValueTask EnsureKeyAsync(UnitOfWork unit, CancellationToken cancellationToken) => signer.EnsureKeyAsync(unit, cancellationToken);

    public string Encode(long id)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(payload, id);
        return signer.Encode(kind, payload);
    }

    public bool TryDecode(string cursor, out long id)
    {
        id = 0;
        Span<byte> payload = stackalloc byte[8];
        if (!signer.TryDecode(cursor, kind, payload))
        {
            return false;
        }

        id = BinaryPrimitives.ReadInt64BigEndian(payload);
        return true;
    }
}

/// <summary>A user's keys listing's cursor: the last key's id.</summary>
internal sealed class KeyCursor(CursorSigner signer) : IdCursor(signer, 2);

/// <summary>An audit listing's cursor: the last event's id (one kind for every filter: the position means the same in each).</summary>
internal sealed class AuditCursor(CursorSigner signer) : IdCursor(signer, 3);
