namespace UserKeys.Data.Tests;

/// <summary>Unique data per test, so tests sharing a class database never see each other's rows.</summary>
internal static class Unique
{
    public static string Email(string local = "user") => $"{local}-{Guid.NewGuid():N}@example.com";

    public static byte[] TokenHash() => System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
}
