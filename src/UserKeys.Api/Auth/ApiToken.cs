using System.Buffers.Binary;
using System.IO.Hashing;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace UserKeys.Api.Auth;

/// <summary>A token as issued: the full token (shown once), its display prefix, and the hash that is stored.</summary>
internal sealed record IssuedToken(string Token, string Prefix, byte[] Hash);

/// <summary>
/// API tokens: <c>uk_</c> + 32 random bytes from a CSPRNG in base62 (43 characters) + the CRC32 of that
/// random part in base62 (6 characters), as GitHub's tokens do. The checksum lets the service, or a
/// secret scanner, reject a mistyped or made-up token without a database round trip. Only the
/// SHA-256 of the whole token is stored.
/// </summary>
internal static class ApiToken
{
    public const string Scheme = "uk_";
    public const int RandomBytes = 32;
    public const int RandomChars = 43;   // ceil(256 / log2(62))
    public const int ChecksumChars = 6;  // 62^6 > 2^32
    public const int Length = 3 + RandomChars + ChecksumChars;

    /// <summary>Scheme + 8 random characters: enough to tell keys apart in a list, far too little to guess the rest.</summary>
    public const int PrefixLength = 3 + 8;

    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static IssuedToken Generate()
    {
        Span<byte> random = stackalloc byte[RandomBytes];
        RandomNumberGenerator.Fill(random);
        var body = ToBase62(new BigInteger(random, isUnsigned: true, isBigEndian: true), RandomChars);
        Span<char> checksum = stackalloc char[ChecksumChars];
        var token = string.Concat(Scheme, body, WriteBase62(Checksum(body), checksum));
        return new IssuedToken(token, token[..PrefixLength], Hash(token));
    }

    /// <summary>
    /// True when <paramref name="token"/> has the format and a matching checksum; then
    /// <paramref name="hash"/> is what to look up. Constant work for a given length, no allocation
    /// but the hash.
    /// </summary>
    public static bool TryParse(string? token, out byte[] hash)
    {
        hash = [];
        if (token is null || token.Length != Length || !token.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return false;
        }

        var body = token.AsSpan(Scheme.Length, RandomChars);
        var checksum = token.AsSpan(Scheme.Length + RandomChars, ChecksumChars);
        Span<char> expected = stackalloc char[ChecksumChars];
        if (!IsBase62(body) || !IsBase62(checksum) || !checksum.SequenceEqual(WriteBase62(Checksum(body), expected)))
        {
            return false;
        }

        hash = Hash(token);
        return true;
    }

    public static byte[] Hash(string token)
    {
        // Tokens are ASCII and short: no buffer to allocate but the hash itself.
        Span<byte> ascii = token.Length <= 256 ? stackalloc byte[token.Length] : new byte[token.Length];
        Encoding.ASCII.GetBytes(token, ascii);
        return SHA256.HashData(ascii);
    }

    /// <summary><paramref name="value"/> in base62, zero-padded to the width of <paramref name="digits"/>.</summary>
    private static ReadOnlySpan<char> WriteBase62(uint value, Span<char> digits)
    {
        for (var i = digits.Length - 1; i >= 0; i--)
        {
            (value, var digit) = Math.DivRem(value, 62u);
            digits[i] = Alphabet[(int)digit];
        }

        return digits;
    }

    private static uint Checksum(ReadOnlySpan<char> body)
    {
        Span<byte> ascii = stackalloc byte[RandomChars];
        var written = Encoding.ASCII.GetBytes(body, ascii);
        Span<byte> crc = stackalloc byte[4];
        Crc32.Hash(ascii[..written], crc);
        return BinaryPrimitives.ReadUInt32LittleEndian(crc);
    }

    private static bool IsBase62(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiLetterOrDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static string ToBase62(BigInteger value, int width)
    {
        Span<char> chars = stackalloc char[width];
        for (var i = width - 1; i >= 0; i--)
        {
            value = BigInteger.DivRem(value, 62, out var digit);
            chars[i] = Alphabet[(int)digit];
        }

        return new string(chars);
    }
}
