using UserKeys.Api.Auth;

namespace UserKeys.Api.Tests;

/// <summary>The token format is stored and scanned for: tokens issued by any version must keep parsing to the same hash.</summary>
public sealed class ApiTokenTests
{
    // Made outside .NET: CRC-32 (zlib) of the 43 characters in base62 (0-9A-Za-z, 6 digits), SHA-256 of the whole token.
    private const string Known = "uk_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg37cCQ0";
    private const string KnownSha256 = "993ea877cbc19672b4f111fac88b2e0aa4fb4eae19e435d6fe3e91fb7228b882";

    [Fact]
    public void A_token_made_elsewhere_parses_to_its_sha256()
    {
        Assert.True(ApiToken.TryParse(Known, out var hash));
        Assert.Equal(KnownSha256, Convert.ToHexStringLower(hash));
    }

    [Theory]
    [InlineData("uk_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg37cCQ1")] // checksum off by one
    [InlineData("uk_1123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg37cCQ0")] // body changed
    [InlineData("uk_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg37cCQ")] // too short
    [InlineData("uk_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef-37cCQ0")] // not base62
    [InlineData("UK_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg37cCQ0")] // scheme
    public void A_mistyped_token_is_refused_without_a_hash(string token)
    {
        Assert.False(ApiToken.TryParse(token, out var hash));
        Assert.Empty(hash);
    }

    [Fact]
    public void Generated_tokens_parse_to_the_hash_issued_with_them()
    {
        for (var i = 0; i < 1000; i++)
        {
            var issued = ApiToken.Generate();
            Assert.Equal(ApiToken.Length, issued.Token.Length);
            Assert.StartsWith(issued.Prefix, issued.Token, StringComparison.Ordinal);
            Assert.True(ApiToken.TryParse(issued.Token, out var hash));
            Assert.Equal(issued.Hash, hash);
        }
    }
}
