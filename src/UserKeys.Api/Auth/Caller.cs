using System.Reflection;
using UserKeys.Data.Audit;
using UserKeys.Data.Keys;
using UserKeys.Data.Users;

namespace UserKeys.Api.Auth;

/// <summary>
/// Who is calling: the authenticated key and its user, in its request. Bound into handlers as a parameter.
/// </summary>
internal sealed record Caller(ApiKeyWithUserRow Key, HttpContext? Request = null)
{
    private AuditActor? _actor;

    /// <summary>
    /// The actor of the writes this caller makes, as the audit log names it (with the request's id). Made only by a
    /// write: a read never pays for the request id's string.
    /// </summary>
    public AuditActor Actor => _actor ??= new AuditActor(
        Key.UserId, Key.Id, Request is null ? null : Infrastructure.RequestIds.Of(Request), Infrastructure.RequestIds.TraceOf());

    public long UserId => Key.UserId;

    public bool IsAdmin => Key.UserRole == Roles.Admin;

    /// <summary>An admin may act on every user; a member only on itself.</summary>
    public bool CanActOn(long userId) => IsAdmin || userId == UserId;

    public UserRow User => new()
    {
        Id = Key.UserId, Email = Key.UserEmail, Name = Key.UserName, Role = Key.UserRole, CreatedAt = Key.UserCreatedAt,
        Remaining = Key.UserRemaining, RefillInterval = Key.UserRefillInterval, RefillAmount = Key.UserRefillAmount,
        RefilledAt = Key.UserRefilledAt, RateLimits = Key.UserRateLimits,
    };

    public static ValueTask<Caller?> BindAsync(HttpContext context, ParameterInfo parameter) =>
        ValueTask.FromResult<Caller?>(context.Features.Get<Caller>()
            ?? throw new InvalidOperationException("The endpoint needs an authenticated caller but is not behind authorization."));
}
