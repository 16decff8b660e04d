using Npgsql;

namespace UserKeys.Data;

/// <summary>An error the caller can cause, raised by the data layer in domain terms.</summary>
public abstract class DataError(string message) : Exception(message);

/// <summary>A uniqueness rule was broken. <see cref="Field"/> names what conflicted: <c>email</c> or <c>token</c>.</summary>
public sealed class ConflictError(string field, string message) : DataError(message)
{
    public string Field { get; } = field;
}

/// <summary>A row the caller named does not exist. <see cref="Resource"/> is <c>user</c> or <c>key</c>.</summary>
public sealed class NotFoundError(string resource, long id) : DataError($"{resource} {id} was not found.")
{
    public string Resource { get; } = resource;

    public long Id { get; } = id;
}

/// <summary>A rule of the data would be broken (the last admin removed, a user's key cap passed): 409.</summary>
public sealed class RuleError(string title, string message) : DataError(message)
{
    public string Title { get; } = title;
}

/// <summary>Maps PostgreSQL errors to domain errors by SQLSTATE and constraint name; anything else is left alone.</summary>
internal static class PostgresErrorMap
{
    // Constraint names come from sql/migrations; a test asserts they exist in the schema.
    internal const string UsersEmailUnique = "users_email_lower_key";
    internal const string ApiKeysTokenHashUnique = "api_keys_token_hash_key";
    internal const string ApiKeysUserForeignKey = "api_keys_user_id_fkey";

    // Raised by the trigger of migration 0006 (SQLSTATE 23514, this constraint name).
    internal const string UsersLastAdmin = "users_last_admin";

    internal static bool IsLastAdmin(PostgresException error) =>
        error.SqlState == PostgresErrorCodes.CheckViolation && error.ConstraintName == UsersLastAdmin;

    internal static RuleError LastAdmin() =>
        new("The last admin", "This user is the last admin; there must always be one. Make another user an admin first.");

    internal static bool TryMapUnique(PostgresException error, out DataError mapped)
    {
        mapped = null!;
        if (error.SqlState != PostgresErrorCodes.UniqueViolation)
        {
            return false;
        }

        mapped = error.ConstraintName switch
        {
            UsersEmailUnique => new ConflictError("email", "A user with this email already exists."),
            ApiKeysTokenHashUnique => new ConflictError("token", "A key with this token already exists."),
            _ => null!,
        };
        return mapped is not null;
    }

    internal static bool IsMissingUser(PostgresException error) =>
        error.SqlState == PostgresErrorCodes.ForeignKeyViolation && error.ConstraintName == ApiKeysUserForeignKey;
}
