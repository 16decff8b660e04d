namespace UserKeys.Api.Auth;

/// <summary>
/// What one key may do on this API (../shared/API.md, the scope table). A request may do what its user's
/// role allows intersected with its key's scopes: a scope never adds a right the role lacks (a member's
/// key with <c>users:write</c> still changes only its own user).
/// </summary>
internal static class Scopes
{
    public const string UsersRead = "users:read";
    public const string UsersWrite = "users:write";
    public const string KeysRead = "keys:read";
    public const string KeysWrite = "keys:write";
    public const string KeysVerify = "keys:verify";
    public const string AuditRead = "audit:read";

    /// <summary>Every scope, in the order the API lists them. Both roles may hold every scope.</summary>
    public static readonly string[] All = [UsersRead, UsersWrite, KeysRead, KeysWrite, KeysVerify, AuditRead];

    public static bool IsKnown(string scope) => Array.IndexOf(All, scope) >= 0;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string[]> Interned = new(StringComparer.Ordinal);

    /// <summary>
    /// One shared array per combination of scopes (there are at most 64), so that 100,000 cached keys do
    /// not hold 100,000 copies of the same six strings.
    /// </summary>
    public static string[] Intern(string[] scopes) =>
        scopes.All(IsKnown) ? Interned.GetOrAdd(string.Join(' ', scopes), _ => scopes.Select(scope => All[Array.IndexOf(All, scope)]).ToArray()) : scopes;

    /// <summary>The scopes in the API's order, each once.</summary>
    public static string[] Normalize(IEnumerable<string> scopes)
    {
        var set = scopes.ToHashSet(StringComparer.Ordinal);
        return All.Where(set.Contains).ToArray();
    }
}
