using Dapper;
using Npgsql;
using UserKeys.Data.Keys;
using UserKeys.Data.Users;
using UserKeys.Testing;

namespace UserKeys.Data.Tests;

public sealed class UserRepositoryTests(MigratedDatabaseFixture fixture) : IClassFixture<MigratedDatabaseFixture>
{
    private readonly UnitOfWorkFactory _units = new(fixture.Database.DataSource);

    private Task<T> Run<T>(Func<UnitOfWork, Task<T>> work) => _units.RunAsync((unit, _) => work(unit), CancellationToken.None);

    private Task<UserRow> CreateUser(string? email = null, string? name = "Ada", string role = Roles.Member) =>
        Run(unit => unit.Users.CreateAsync(new NewUser(email ?? Unique.Email(), name, role), CancellationToken.None));

    [Fact]
    public async Task Create_returns_the_generated_id_and_created_at_and_the_row_reads_back()
    {
        var before = DateTime.UtcNow.AddMinutes(-1);
        var email = Unique.Email("ada");

        var created = await CreateUser(email, "Ada Lovelace", Roles.Admin);

        Assert.True(created.Id > 0);
        Assert.Equal(DateTimeKind.Utc, created.CreatedAt.Kind);
        Assert.InRange(created.CreatedAt, before, DateTime.UtcNow.AddMinutes(1));
        var read = await Run(unit => unit.Users.GetAsync(created.Id, CancellationToken.None));
        Assert.Equal(created, read);
        Assert.Equal("Ada Lovelace", read.Name);
        Assert.Equal(Roles.Admin, read.Role);
    }

    [Fact]
    public async Task Get_of_a_missing_id_is_not_found()
    {
        var error = await Assert.ThrowsAsync<NotFoundError>(() => Run(unit => unit.Users.GetAsync(long.MaxValue, CancellationToken.None)));
        Assert.Equal("user", error.Resource);
        Assert.Equal(long.MaxValue, error.Id);
    }

    [Fact]
    public async Task Find_by_email_ignores_case()
    {
        var created = await CreateUser(Unique.Email("Grace").Replace("example", "Example", StringComparison.Ordinal));

        var found = await Run(unit => unit.Users.FindByEmailAsync(created.Email.ToUpperInvariant(), CancellationToken.None));

        Assert.Equal(created, found);
    }

    [Fact]
    public async Task Find_by_email_of_nobody_is_null() =>
        Assert.Null(await Run(unit => unit.Users.FindByEmailAsync(Unique.Email(), CancellationToken.None)));

    [Fact]
    public async Task An_email_that_differs_only_in_case_conflicts_on_email()
    {
        var email = Unique.Email("case");
        await CreateUser(email);

        var error = await Assert.ThrowsAsync<ConflictError>(() => CreateUser(email.ToUpperInvariant()));

        Assert.Equal("email", error.Field);
    }

    [Fact]
    public async Task Update_changes_only_the_fields_given()
    {
        var created = await CreateUser(name: "Before");
        var newEmail = Unique.Email("after");

        var emailOnly = await Run(unit => unit.Users.UpdateAsync(new UserUpdate(created.Id, Email: newEmail), CancellationToken.None));
        Assert.Equal(newEmail, emailOnly.Email);
        Assert.Equal("Before", emailOnly.Name);
        Assert.Equal(Roles.Member, emailOnly.Role);

        var roleOnly = await Run(unit => unit.Users.UpdateAsync(new UserUpdate(created.Id, Role: Roles.Admin), CancellationToken.None));
        Assert.Equal(Roles.Admin, roleOnly.Role);
        Assert.Equal(newEmail, roleOnly.Email);

        var renamed = await Run(unit => unit.Users.UpdateAsync(new UserUpdate(created.Id, SetName: true, Name: "After"), CancellationToken.None));
        Assert.Equal("After", renamed.Name);

        var cleared = await Run(unit => unit.Users.UpdateAsync(new UserUpdate(created.Id, SetName: true, Name: null), CancellationToken.None));
        Assert.Null(cleared.Name);
        Assert.Equal(created.CreatedAt, cleared.CreatedAt);
        Assert.Equal(cleared, await Run(unit => unit.Users.GetAsync(created.Id, CancellationToken.None)));
    }

    [Fact]
    public async Task Update_of_a_missing_user_is_not_found() =>
        await Assert.ThrowsAsync<NotFoundError>(() =>
            Run(unit => unit.Users.UpdateAsync(new UserUpdate(long.MaxValue, SetName: true, Name: "x"), CancellationToken.None)));

    [Fact]
    public async Task Update_to_a_taken_email_conflicts_and_leaves_the_user_unchanged()
    {
        var taken = await CreateUser();
        var other = await CreateUser();

        var error = await Assert.ThrowsAsync<ConflictError>(() =>
            Run(unit => unit.Users.UpdateAsync(new UserUpdate(other.Id, Email: taken.Email.ToUpperInvariant()), CancellationToken.None)));

        Assert.Equal("email", error.Field);
        Assert.Equal(other, await Run(unit => unit.Users.GetAsync(other.Id, CancellationToken.None)));
    }

    [Fact]
    public async Task The_database_rejects_an_unknown_role_and_the_error_is_not_swallowed()
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => CreateUser(role: "root"));
        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal("users_role_check", error.ConstraintName);
    }

    [Fact]
    public async Task Delete_removes_the_user_and_cascades_to_its_keys()
    {
        var user = await CreateUser();
        await Run(unit => unit.Keys.CreateAsync(new NewApiKey(user.Id, "one", "uk_aaaa", Unique.TokenHash(), null, Unique.AllScopes), Unique.MaxKeys, CancellationToken.None));
        await Run(unit => unit.Keys.CreateAsync(new NewApiKey(user.Id, "two", "uk_bbbb", Unique.TokenHash(), null, Unique.AllScopes), Unique.MaxKeys, CancellationToken.None));

        await Run(async unit => { await unit.Users.DeleteAsync(user.Id, CancellationToken.None); return 0; });

        await Assert.ThrowsAsync<NotFoundError>(() => Run(unit => unit.Users.GetAsync(user.Id, CancellationToken.None)));
        await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>(TestSql.Get("count_keys_of_user"), new { user_id = user.Id }));
    }

    [Fact]
    public async Task Delete_of_a_missing_user_is_not_found() =>
        await Assert.ThrowsAsync<NotFoundError>(() =>
            Run(async unit => { await unit.Users.DeleteAsync(long.MaxValue, CancellationToken.None); return 0; }));
}
