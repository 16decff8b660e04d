using UserKeys.Data.Keys;
using UserKeys.Data.Users;
using UserKeys.Testing;

namespace UserKeys.Data.Tests;

public sealed class ApiKeyRepositoryTests(MigratedDatabaseFixture fixture) : IClassFixture<MigratedDatabaseFixture>
{
    private readonly UnitOfWorkFactory _units = new(fixture.Database.DataSource);

    private Task<T> Run<T>(Func<UnitOfWork, Task<T>> work) => _units.RunAsync((unit, _) => work(unit), CancellationToken.None);

    private Task<UserRow> CreateUser() =>
        Run(unit => unit.Users.CreateAsync(new NewUser(Unique.Email(), "Key Owner", Roles.Member), CancellationToken.None));

    private async Task<ApiKeyRow> CreateKey(long userId, byte[]? hash = null, string? name = "ci", DateTime? expiresAt = null) =>
        (await Run(unit => unit.Keys.CreateAsync(
            new NewApiKey(userId, name, "uk_Ab12", hash ?? Unique.TokenHash(), expiresAt, Unique.AllScopes), Unique.MaxKeys, CancellationToken.None)))!;

    [Fact]
    public async Task Create_returns_the_key_without_its_hash_and_with_timestamps()
    {
        var user = await CreateUser();
        var expires = new DateTime(2030, 1, 2, 3, 4, 5, 123456 / 1000, DateTimeKind.Utc).AddTicks(4560);

        var key = await CreateKey(user.Id, name: "deploy", expiresAt: expires);

        Assert.True(key.Id > 0);
        Assert.Equal(user.Id, key.UserId);
        Assert.Equal("deploy", key.Name);
        Assert.Equal("uk_Ab12", key.Prefix);
        Assert.Equal(expires, key.ExpiresAt);
        Assert.Null(key.RevokedAt);
        Assert.Null(key.LastUsedAt);
        Assert.Equal(Unique.AllScopes, key.Scopes);
        var fetched = Assert.Single(await Run(unit => unit.Keys.ListByUserAsync(user.Id, null, 10, CancellationToken.None)));
        Assert.Equal(key, fetched with { Scopes = key.Scopes });
        Assert.Equal(key.Scopes, fetched.Scopes);
    }

    [Fact]
    public async Task Create_for_a_missing_user_is_not_found_for_that_user()
    {
        var error = await Assert.ThrowsAsync<NotFoundError>(() => CreateKey(long.MaxValue));
        Assert.Equal("user", error.Resource);
    }

    [Fact]
    public async Task A_duplicate_token_hash_conflicts_on_token()
    {
        var user = await CreateUser();
        var hash = Unique.TokenHash();
        await CreateKey(user.Id, hash);

        var error = await Assert.ThrowsAsync<ConflictError>(() => CreateKey(user.Id, hash));

        Assert.Equal("token", error.Field);
    }

    [Fact]
    public async Task Find_by_token_hash_returns_the_key_and_its_user_in_one_row()
    {
        var user = await CreateUser();
        var hash = Unique.TokenHash();
        var key = await CreateKey(user.Id, hash);

        var found = await Run(unit => unit.Keys.FindWithUserByTokenHashAsync(hash, CancellationToken.None));

        Assert.NotNull(found);
        Assert.Equal(key.Id, found.Id);
        Assert.Equal(user.Id, found.UserId);
        Assert.Equal(user.Email, found.UserEmail);
        Assert.Equal(user.Name, found.UserName);
        Assert.Equal(user.Role, found.UserRole);
        Assert.Equal(user.CreatedAt, found.UserCreatedAt);
        Assert.Null(await Run(unit => unit.Keys.FindWithUserByTokenHashAsync(Unique.TokenHash(), CancellationToken.None)));
    }

    [Fact]
    public async Task Find_by_ids_returns_the_same_rows_as_by_token_hash_for_the_keys_that_exist()
    {
        var first = await CreateUser();
        var second = await CreateUser();
        var hashes = new[] { Unique.TokenHash(), Unique.TokenHash(), Unique.TokenHash() };
        var keys = new[] { await CreateKey(first.Id, hashes[0]), await CreateKey(first.Id, hashes[1]), await CreateKey(second.Id, hashes[2]) };

        var found = await Run(unit => unit.Keys.FindWithUserByIdsAsync([keys[2].Id, long.MaxValue, keys[0].Id, keys[1].Id], CancellationToken.None));

        Assert.Equal(keys.Select(key => key.Id).Order(), found.Select(row => row.Id).Order());
        for (var i = 0; i < keys.Length; i++)
        {
            var byHash = await Run(unit => unit.Keys.FindWithUserByTokenHashAsync(hashes[i], CancellationToken.None));
            var byId = found.Single(row => row.Id == keys[i].Id);
            Assert.Equal(byHash, byId with { Scopes = byHash!.Scopes, Permissions = byHash.Permissions, RateLimits = byHash.RateLimits });
            Assert.Equal(byHash.Scopes, byId.Scopes);
        }
    }

    [Fact]
    public async Task List_by_user_returns_only_that_users_keys_oldest_first()
    {
        var owner = await CreateUser();
        var other = await CreateUser();
        var first = await CreateKey(owner.Id);
        await CreateKey(other.Id);
        var second = await CreateKey(owner.Id);

        var keys = await Run(unit => unit.Keys.ListByUserAsync(owner.Id, null, 10, CancellationToken.None));
        var after = await Run(unit => unit.Keys.ListByUserAsync(owner.Id, second.Id, 10, CancellationToken.None));

        Assert.Equal([second.Id, first.Id], keys.Select(key => key.Id));
        Assert.Equal([first.Id], after.Select(key => key.Id));
        Assert.Equal(Unique.AllScopes, keys[0].Scopes);
        Assert.Empty(await Run(async unit => await unit.Keys.ListByUserAsync((await CreateUserIn(unit)).Id, null, 10, CancellationToken.None)));
    }

    /// <summary>The user's one key, as stored.</summary>
    private async Task<ApiKeyRow> OnlyKey(long userId) =>
        Assert.Single(await Run(unit => unit.Keys.ListByUserAsync(userId, null, 10, CancellationToken.None)));

    private static Task<UserRow> CreateUserIn(UnitOfWork unit) =>
        unit.Users.CreateAsync(new NewUser(Unique.Email(), null, Roles.Member), CancellationToken.None);

    [Fact]
    public async Task Revoke_is_idempotent_and_keeps_the_first_revoked_at()
    {
        var user = await CreateUser();
        var key = await CreateKey(user.Id);

        var first = await Run(unit => unit.Keys.RevokeAsync(user.Id, key.Id, CancellationToken.None));
        await Task.Delay(20);
        var second = await Run(unit => unit.Keys.RevokeAsync(user.Id, key.Id, CancellationToken.None));

        Assert.NotNull(first.RevokedAt);
        Assert.Equal(first.RevokedAt, second.RevokedAt);
        Assert.Equal(first.RevokedAt, Assert.Single(await Run(unit => unit.Keys.ListByUserAsync(user.Id, null, 10, CancellationToken.None))).RevokedAt);
    }

    [Fact]
    public async Task Revoke_of_a_missing_or_foreign_key_is_not_found()
    {
        var owner = await CreateUser();
        var stranger = await CreateUser();
        var key = await CreateKey(owner.Id);

        await Assert.ThrowsAsync<NotFoundError>(() => Run(unit => unit.Keys.RevokeAsync(owner.Id, long.MaxValue, CancellationToken.None)));
        var error = await Assert.ThrowsAsync<NotFoundError>(() => Run(unit => unit.Keys.RevokeAsync(stranger.Id, key.Id, CancellationToken.None)));
        Assert.Equal("key", error.Resource);
        Assert.Null(Assert.Single(await Run(unit => unit.Keys.ListByUserAsync(owner.Id, null, 10, CancellationToken.None))).RevokedAt);
    }

    [Fact]
    public async Task Delete_removes_the_key_and_a_second_delete_is_not_found()
    {
        var user = await CreateUser();
        var key = await CreateKey(user.Id);

        await Run(async unit => { await unit.Keys.DeleteAsync(user.Id, key.Id, CancellationToken.None); return 0; });

        Assert.Empty(await Run(unit => unit.Keys.ListByUserAsync(user.Id, null, 10, CancellationToken.None)));
        await Assert.ThrowsAsync<NotFoundError>(() =>
            Run(async unit => { await unit.Keys.DeleteAsync(user.Id, key.Id, CancellationToken.None); return 0; }));
    }

    [Fact]
    public async Task Delete_of_another_users_key_is_not_found_and_keeps_it()
    {
        var owner = await CreateUser();
        var stranger = await CreateUser();
        var key = await CreateKey(owner.Id);

        await Assert.ThrowsAsync<NotFoundError>(() =>
            Run(async unit => { await unit.Keys.DeleteAsync(stranger.Id, key.Id, CancellationToken.None); return 0; }));

        var kept = await OnlyKey(owner.Id);
        Assert.Equal(key, kept with { Scopes = key.Scopes });
    }

    [Fact]
    public async Task Touch_records_each_use_at_most_once_a_minute_in_one_statement_for_many_keys()
    {
        var user = await CreateUser();
        var first = await CreateKey(user.Id);
        var second = await CreateKey(user.Id);
        var used = new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1230);
        var events = await AuditEvents(first.Id);

        Assert.Equal(2, await Touch([first.Id, second.Id, long.MaxValue], [used, used, used]));
        Assert.Equal([used, used], await LastUses(user.Id));

        // Within the minute: kept. A minute later: written (only where the minute has passed).
        Assert.Equal(0, await Touch([first.Id, second.Id], [used.AddSeconds(59), used.AddSeconds(59)]));
        Assert.Equal(1, await Touch([first.Id, second.Id], [used.AddSeconds(61), used.AddSeconds(30)]));
        Assert.Equal([used.AddSeconds(61), used], await LastUses(user.Id));

        // An older use never moves it back.
        Assert.Equal(0, await Touch([first.Id], [used.AddMinutes(-5)]));

        // A use, not a change: not audited (key.created only).
        Assert.Equal(events, await AuditEvents(first.Id));
    }

    private async Task<long> AuditEvents(long keyId)
    {
        await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
        return await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, TestSql.Get("count_audit_events_of_key"), new { id = keyId });
    }

    [Fact]
    public async Task Touch_skips_a_key_another_transaction_holds_instead_of_waiting_for_it()
    {
        var user = await CreateUser();
        var held = await CreateKey(user.Id);
        var free = await CreateKey(user.Id);
        var used = new DateTime(2030, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        await using var other = await fixture.Database.DataSource.OpenConnectionAsync();
        await using var revoke = await other.BeginTransactionAsync();
        await Dapper.SqlMapper.ExecuteScalarAsync<long>(other, TestSql.Get("lock_key_row"), new { id = held.Id }, revoke);

        // Waiting on the lock would run into the 10 s timeout.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(1, await _units.RunAsync((unit, _) => unit.Keys.TouchLastUsedAsync([held.Id, free.Id], [used, used], timeout.Token), timeout.Token));
        await revoke.RollbackAsync();

        Assert.Equal([null, used], await LastUses(user.Id));
    }

    private Task<int> Touch(long[] ids, DateTime[] usedAt) => Run(unit => unit.Keys.TouchLastUsedAsync(ids, usedAt, CancellationToken.None));

    /// <summary>The user's keys' last_used_at, oldest key first.</summary>
    private async Task<DateTime?[]> LastUses(long userId) =>
        [.. (await Run(unit => unit.Keys.ListByUserAsync(userId, null, 10, CancellationToken.None))).OrderBy(key => key.Id).Select(key => key.LastUsedAt)];
}
