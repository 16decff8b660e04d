using Npgsql;
using UserKeys.Data.Users;
using UserKeys.Testing;

namespace UserKeys.Data.Tests;

public sealed class UnitOfWorkTests(MigratedDatabaseFixture fixture) : IClassFixture<MigratedDatabaseFixture>
{
    private readonly UnitOfWorkFactory _units = new(fixture.Database.DataSource);

    private static NewUser NewUser() => new(Unique.Email(), null, Roles.Member);

    private Task<UserRow?> Find(string email) =>
        new UnitOfWorkFactory(fixture.Database.DataSource).ReadAsync((unit, cancellationToken) => unit.Users.FindByEmailAsync(email, cancellationToken), CancellationToken.None);

    [Fact]
    public async Task Run_commits_what_the_work_wrote()
    {
        var user = NewUser();
        await _units.RunAsync((unit, cancellationToken) => unit.Users.CreateAsync(user, cancellationToken), CancellationToken.None);
        Assert.NotNull(await Find(user.Email));
    }

    [Fact]
    public async Task A_non_database_exception_after_a_write_rolls_the_write_back()
    {
        var user = NewUser();

        await Assert.ThrowsAsync<InvalidOperationException>(() => _units.RunAsync<int>(async (unit, cancellationToken) =>
        {
            await unit.Users.CreateAsync(user, cancellationToken);
            throw new InvalidOperationException("a bug after the first write");
        }, CancellationToken.None));

        Assert.Null(await Find(user.Email));
    }

    [Fact]
    public async Task Disposing_without_commit_rolls_back()
    {
        var user = NewUser();
        await using (var unit = await _units.BeginAsync(CancellationToken.None))
        {
            await unit.Users.CreateAsync(user, CancellationToken.None);
        }

        Assert.Null(await Find(user.Email));
    }

    [Fact]
    public async Task A_cancelled_request_rolls_back_and_the_connection_goes_back_to_the_pool()
    {
        var user = NewUser();
        using var cancellation = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _units.RunAsync<int>(async (unit, cancellationToken) =>
        {
            await unit.Users.CreateAsync(user, cancellationToken);
            await cancellation.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
            return 0;
        }, cancellation.Token));

        Assert.Null(await Find(user.Email));
        Assert.Null(_units.Current);
    }

    [Fact]
    public async Task A_read_only_unit_of_work_refuses_a_write()
    {
        var user = NewUser();

        var error = await Assert.ThrowsAsync<PostgresException>(() =>
            _units.ReadAsync((unit, cancellationToken) => unit.Users.CreateAsync(user, cancellationToken), CancellationToken.None));

        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, error.SqlState);
        Assert.Null(await Find(user.Email));
    }

    [Fact]
    public async Task A_read_only_unit_of_work_cannot_commit()
    {
        await using var unit = await _units.BeginAsync(UnitOfWorkMode.ReadOnly, CancellationToken.None);
        await Assert.ThrowsAsync<InvalidOperationException>(() => unit.CommitAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_read_only_unit_of_work_sees_one_snapshot()
    {
        await using var unit = await _units.BeginAsync(UnitOfWorkMode.ReadOnly, CancellationToken.None);
        var before = await unit.Users.CountAsync(CancellationToken.None);

        // Another flow (its own factory) commits a user meanwhile.
        await new UnitOfWorkFactory(fixture.Database.DataSource)
            .RunAsync((other, cancellationToken) => other.Users.CreateAsync(NewUser(), cancellationToken), CancellationToken.None);

        Assert.Equal(before, await unit.Users.CountAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Opening_a_unit_of_work_inside_an_open_one_is_an_error()
    {
        await using (var outer = await _units.BeginAsync(CancellationToken.None))
        {
            Assert.Same(outer, _units.Current);
            await Assert.ThrowsAsync<InvalidOperationException>(() => _units.BeginAsync(CancellationToken.None));
            await Assert.ThrowsAsync<InvalidOperationException>(() =>
                _units.RunAsync((unit, cancellationToken) => unit.Users.CountAsync(cancellationToken), CancellationToken.None));
        }

        // Once disposed, the flow may open a new one.
        Assert.Null(_units.Current);
        await using var next = await _units.BeginAsync(CancellationToken.None);
        Assert.Same(next, _units.Current);
    }

    [Fact]
    public async Task Commit_twice_is_an_error_and_the_first_commit_stands()
    {
        var user = NewUser();
        await using (var unit = await _units.BeginAsync(CancellationToken.None))
        {
            await unit.Users.CreateAsync(user, CancellationToken.None);
            await unit.CommitAsync(CancellationToken.None);
            await Assert.ThrowsAsync<InvalidOperationException>(() => unit.CommitAsync(CancellationToken.None));
        }

        Assert.NotNull(await Find(user.Email));
    }

    [Fact]
    public async Task A_single_statement_unit_of_work_runs_without_a_transaction()
    {
        var user = NewUser();
        await using (var unit = await _units.BeginAsync(UnitOfWorkMode.SingleStatement, CancellationToken.None))
        {
            Assert.Null(unit.Transaction);
            await unit.Users.CreateAsync(user, CancellationToken.None);
            // No commit: each statement commits on its own in this mode.
        }

        Assert.NotNull(await Find(user.Email));
    }
}
