using System.Reflection;

namespace UserKeys.Data.Sql;

/// <summary>
/// Every statement the service runs, loaded once from the <c>.sql</c> files under <c>sql/queries</c>
/// that are embedded in this assembly. A missing file fails loudly the first time its area is touched,
/// and <see cref="All"/> touches every area, so the service checks the whole catalog at start.
/// </summary>
public static class SqlCatalog
{
    internal const string ResourcePrefix = "queries/";

    public static class Users
    {
        public static readonly SqlStatement Insert = Load("users/insert");
        public static readonly SqlStatement GetById = Load("users/get_by_id");
        public static readonly SqlStatement FindByEmail = Load("users/find_by_email");
        public static readonly SqlStatement Update = Load("users/update");
        public static readonly SqlStatement Delete = Load("users/delete");
        public static readonly SqlStatement LockForNewKey = Load("users/lock_for_new_key");
        public static readonly SqlStatement Count = Load("users/count");
        public static readonly SqlStatement ListFirstPage = Load("users/list_first_page");
        public static readonly SqlStatement ListPageAfter = Load("users/list_page_after");
        public static readonly SqlStatement ListPageByOffset = Load("users/list_page_by_offset");
        public static readonly SqlStatement FindByEmailWithKeys = Load("users/find_by_email_with_keys");
        public static readonly SqlStatement ListFirstPageWithKeys = Load("users/list_first_page_with_keys");
        public static readonly SqlStatement ListPageAfterWithKeys = Load("users/list_page_after_with_keys");
        public static readonly SqlStatement ListPageByOffsetWithKeys = Load("users/list_page_by_offset_with_keys");
    }

    public static class Keys
    {
        public static readonly SqlStatement Insert = Load("keys/insert");
        public static readonly SqlStatement GetWithUserByTokenHash = Load("keys/get_with_user_by_token_hash");
        public static readonly SqlStatement GetWithUserByIds = Load("keys/get_with_user_by_ids");
        public static readonly SqlStatement ListByUserFirstPage = Load("keys/list_by_user_first_page");
        public static readonly SqlStatement ListByUserAfter = Load("keys/list_by_user_after");
        public static readonly SqlStatement Revoke = Load("keys/revoke");
        public static readonly SqlStatement Delete = Load("keys/delete");
        public static readonly SqlStatement TouchLastUsed = Load("keys/touch_last_used");
        public static readonly SqlStatement Update = Load("keys/update");
        public static readonly SqlStatement GetState = Load("keys/get_state");
        public static readonly SqlStatement Roll = Load("keys/roll");
        public static readonly SqlStatement LockParent = Load("keys/lock_parent");
        public static readonly SqlStatement ImposeOnDerived = Load("keys/impose_on_derived");
        public static readonly SqlStatement CountByUser = Load("keys/count_by_user");
    }

    public static class Credits
    {
        public static readonly SqlStatement Lease = Load("credits/lease");
        public static readonly SqlStatement GiveBack = Load("credits/give_back");
        public static readonly SqlStatement LeaseUser = Load("credits/lease_user");
        public static readonly SqlStatement GiveBackUser = Load("credits/give_back_user");
        public static readonly SqlStatement Available = Load("credits/available");
        public static readonly SqlStatement AvailableUser = Load("credits/available_user");
    }

    public static class RateLimits
    {
        public static readonly SqlStatement Lease = Load("rate_limits/lease");
        public static readonly SqlStatement LeaseUser = Load("rate_limits/lease_user");
        public static readonly SqlStatement PurgeWindows = Load("rate_limits/purge_windows");
    }

    public static class Usage
    {
        public static readonly SqlStatement Flush = Load("usage/flush");
        public static readonly SqlStatement Hours = Load("usage/hours");
        public static readonly SqlStatement Days = Load("usage/days");
        public static readonly SqlStatement Purge = Load("usage/purge");
    }

    public static class Audit
    {
        public static readonly SqlStatement SetActor = Load("audit/set_actor");
        public static readonly SqlStatement ListAll = Load("audit/list_all");
        public static readonly SqlStatement ListByUser = Load("audit/list_by_user");
        public static readonly SqlStatement ListByKey = Load("audit/list_by_key");
        public static readonly SqlStatement ListByAction = Load("audit/list_by_action");
        public static readonly SqlStatement Purge = Load("audit/purge");
    }

    public static class Session
    {
        public static readonly SqlStatement SetTransactionReadOnly = Load("session/set_transaction_read_only");
    }

    public static class Auth
    {
        public static readonly SqlStatement Heartbeat = Load("auth/heartbeat");
        public static readonly SqlStatement Listen = Load("auth/listen");
        public static readonly SqlStatement Identity = Load("auth/identity");
    }

    public static class Secrets
    {
        public static readonly SqlStatement GetByName = Load("secrets/get_by_name");
    }

    public static class Schema
    {
        public static readonly SqlStatement AppliedScripts = Load("schema/applied_scripts");
        public static readonly SqlStatement GrantServiceRole = Load("schema/grant_service_role");
        public static readonly SqlStatement MissingPrivileges = Load("schema/missing_privileges");
    }

    public static class Upgrader
    {
        public static readonly SqlStatement TryLock = Load("upgrader/try_lock");
        public static readonly SqlStatement Unlock = Load("upgrader/unlock");
        public static readonly SqlStatement EnsureChecksumTable = Load("upgrader/ensure_checksum_table");
        public static readonly SqlStatement RecordChecksum = Load("upgrader/record_checksum");
        public static readonly SqlStatement Checksums = Load("upgrader/checksums");
    }

    private static readonly Lazy<IReadOnlyList<SqlStatement>> AllStatements = new(() =>
        typeof(SqlCatalog).GetNestedTypes(BindingFlags.Public | BindingFlags.Static)
            .SelectMany(area => area.GetFields(BindingFlags.Public | BindingFlags.Static))
            .Where(field => field.FieldType == typeof(SqlStatement))
            .Select(field => (SqlStatement)field.GetValue(null)!)
            .OrderBy(statement => statement.Name, StringComparer.Ordinal)
            .ToList());

    /// <summary>Every catalog entry. Reading it loads every file, so a missing one fails here.</summary>
    public static IReadOnlyList<SqlStatement> All => AllStatements.Value;

    /// <summary>The names of the query files embedded in this assembly (e.g. <c>users/insert</c>).</summary>
    public static IReadOnlyList<string> EmbeddedNames() =>
        typeof(SqlCatalog).Assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(ResourcePrefix, StringComparison.Ordinal) && name.EndsWith(".sql", StringComparison.Ordinal))
            .Select(name => name[ResourcePrefix.Length..^".sql".Length])
            .Order(StringComparer.Ordinal)
            .ToList();

    private static SqlStatement Load(string name)
    {
        var resource = $"{ResourcePrefix}{name}.sql";
        using var stream = typeof(SqlCatalog).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException(
                $"SQL file sql/queries/{name}.sql is not embedded in {typeof(SqlCatalog).Assembly.GetName().Name}; " +
                "add the file or remove its catalog entry.");
        using var reader = new StreamReader(stream);
        var text = reader.ReadToEnd().Trim();
        if (text.Length == 0)
        {
            throw new InvalidOperationException($"SQL file sql/queries/{name}.sql is empty.");
        }

        return new SqlStatement(name, text);
    }
}
