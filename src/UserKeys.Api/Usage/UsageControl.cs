using UserKeys.Api.Keys;
using UserKeys.Data.Keys;

namespace UserKeys.Api.Usage;

/// <summary>
/// What the usage limits made of one verification: granted (<see cref="Refusal"/> null) with the credits left and every
/// rate limit's state, or refused (<c>rate_limited</c>, naming the limit and its reset, or <c>usage_exceeded</c>).
/// </summary>
internal sealed record UsageDecision(string? Refusal, long? Remaining, IReadOnlyList<RateLimitState> RateLimits, string? RefusedBy = null, DateTime? ResetAt = null);

/// <summary>
/// A verification's usage control: the rate limits, then the credits, of the key's budget
/// (<see cref="ApiKeyRow.BudgetKeyId"/>: every key derived from it shares them) and of its user, all or nothing. A
/// refusal by any of them puts back what the others took, so a refused verification consumes nothing.
/// </summary>
internal sealed class UsageControl(CreditLeases credits, RateLimitLeases rateLimits)
{
    public async ValueTask<UsageDecision> TakeAsync(ApiKeyWithUserRow key, long cost, CancellationToken cancellationToken)
    {
        var keyOwner = LimitOwner.Key(key.BudgetId);
        var userOwner = LimitOwner.User(key.UserId);

        var keyLimits = await rateLimits.TakeAsync(keyOwner, key.RateLimits, cost, cancellationToken).ConfigureAwait(false);
        if (!keyLimits.Granted)
        {
            return RateLimited(keyLimits);
        }

        var userLimits = await rateLimits.TakeAsync(userOwner, key.UserRateLimits, cost, cancellationToken).ConfigureAwait(false);
        if (!userLimits.Granted)
        {
            rateLimits.GiveBack(keyOwner, keyLimits, cost);
            return RateLimited(userLimits);
        }

        CreditsTaken? keyCredits = null;
        if (key.Remaining is { } keyRemaining)
        {
            keyCredits = await credits.TakeAsync(keyOwner, keyRemaining, cost, cancellationToken).ConfigureAwait(false);
        }

        CreditsTaken? userCredits = null;
        if (keyCredits is not { Granted: false } && key.UserRemaining is { } userRemaining)
        {
            userCredits = await credits.TakeAsync(userOwner, userRemaining, cost, cancellationToken).ConfigureAwait(false);
        }

        if (keyCredits is { Granted: false } || userCredits is { Granted: false })
        {
            if (keyCredits is { Granted: true } taken)
            {
                credits.Return(keyOwner, taken, cost);
            }

            rateLimits.GiveBack(keyOwner, keyLimits, cost);
            rateLimits.GiveBack(userOwner, userLimits, cost);
            return UsageExceeded;
        }

        var remaining = (keyCredits?.Remaining, userCredits?.Remaining) switch
        {
            ({ } ofKey, { } ofUser) => Math.Min(ofKey, ofUser),
            var (ofKey, ofUser) => ofKey ?? ofUser,
        };
        IReadOnlyList<RateLimitState> states = userLimits.States.Count == 0 ? keyLimits.States : [.. keyLimits.States, .. userLimits.States];
        return new UsageDecision(null, remaining, states);
    }

    private static readonly UsageDecision UsageExceeded = new(Auth.Verification.UsageExceeded, null, []);

    private static UsageDecision RateLimited(RateLimitOutcome outcome) =>
        new(Auth.Verification.RateLimited, null, [], outcome.RefusedBy, outcome.ResetAt);
}
