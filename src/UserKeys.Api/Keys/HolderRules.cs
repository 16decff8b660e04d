using UserKeys.Api.Auth;
using UserKeys.Api.Infrastructure;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Keys;

/// <summary>
/// What binds a key's holder (a member acting on its own keys): what an admin imposes on a key, its holder cannot undo;
/// a holder may only narrow. Admins act within their keys' scopes.
/// </summary>
internal static class HolderRules
{
    /// <summary>Whether the caller is a member: it can act only on its own keys, so it is their holder.</summary>
    public static bool IsHolder(this Caller caller) => !caller.IsAdmin;

    /// <summary>403 naming the first of <paramref name="asked"/> that the calling key's permissions do not cover.</summary>
    public static void EnsureHeld(Caller caller, IReadOnlyList<string> asked)
    {
        if (!caller.IsHolder())
        {
            return;
        }

        foreach (var permission in asked)
        {
            if (!Covers(caller.Key.Permissions, permission))
            {
                throw new ForbiddenError(
                    $"A member's key cannot grant a permission it does not hold: the calling key lacks '{permission}'.");
            }
        }
    }

    /// <summary>
    /// A member's new key against its calling key as it is now (<paramref name="parent"/>, read under a lock): that key
    /// still works, holds every permission asked for, and expires no earlier than the new key (403 otherwise).
    /// </summary>
    public static void EnsureDerivable(ParentKey parent, IReadOnlyList<string> permissions, DateTime? expiresAt)
    {
        if (!parent.IsLive)
        {
            throw new ForbiddenError($"Key {parent.Id} was revoked, disabled or expired meanwhile: it derives no key.");
        }

        if (permissions.FirstOrDefault(permission => !Covers(parent.Permissions, permission)) is { } missing)
        {
            throw new ForbiddenError($"A member's key cannot grant a permission it does not hold: the calling key lacks '{missing}'.");
        }

        if (parent.ExpiresAt is { } limit && (expiresAt is not { } expiry || expiry > limit))
        {
            throw new ForbiddenError($"Key {parent.Id} expires at {limit:O}: a key derived from it cannot outlive it.");
        }
    }

    /// <summary>403 when a member sends meta: it is the admin's.</summary>
    public static void EnsureNoMeta(Caller caller, bool sent)
    {
        if (sent && caller.IsHolder())
        {
            throw new ForbiddenError("Only an admin may set meta; a member's new key carries its calling key's meta.");
        }
    }

    /// <summary>
    /// Whether <paramref name="held"/> covers <paramref name="asked"/>: one of them equals it, or is a pattern whose
    /// <c>*</c> (any run of characters) matches it, the asked one's own <c>*</c> taken as a character. So
    /// <c>invoices:*</c> covers <c>invoices:read</c> and <c>invoices:r*</c>, never <c>*</c>.
    /// </summary>
    public static bool Covers(IReadOnlyList<string> held, string asked)
    {
        foreach (var pattern in held)
        {
            if (Matches(pattern, asked))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Matches(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        // Greedy wildcard matching with one backtrack point (the last '*'): linear in practice, at most 100 x 100.
        int p = 0, t = 0, star = -1, resume = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = t;
            }
            else if (p < pattern.Length && pattern[p] == text[t])
            {
                p++;
                t++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++resume;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
