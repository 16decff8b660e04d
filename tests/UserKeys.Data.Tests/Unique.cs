namespace UserKeys.Data.Tests;

/// <summary>Unique data per test, so tests sharing a class database never see each other's rows.</summary>
internal static class Unique
{
    public static string Email(string local = "user") => $"{local}-{Guid.NewGuid():N}@example.com";

    public static byte[] TokenHash() => System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);

    /// <summary>Every scope a key can hold (migration 0007).</summary>
    public static readonly string[] AllScopes = ["users:read", "users:write", "keys:read", "keys:write", "keys:verify", "audit:read"];

    /// <summary>A generous cap, for tests that are not about the cap.</summary>
    public const int MaxKeys = 1000;
}
