using UserKeys.Data.Keys;
using UserKeys.Data.Usage;
using UserKeys.Data.Users;
using UserKeys.Testing;

namespace UserKeys.Data.Tests;

/// <summary>
/// Statements that run outside a transaction and are sent again after an ambiguous failure (the connection lost as it
/// committed) apply once: a give-back of credits and a usage flush carry an operation id (migration 0020).
/// </summary>
public sealed class AppliedOnceTests(MigratedDatabaseFixture fixture) : IClassFixture<MigratedDatabaseFixture>
{
    private readonly UnitOfWorkFactory _units = new(fixture.Database.DataSource);

    private Task<T> Run<T>(Func<UnitOfWork, Task<T>> work) => _units.RunAsync((unit, _) => work(unit), CancellationToken.None);

    private async Task<ApiKeyRow> LimitedKey(long remaining)
    {
        var user = await Run(unit => unit.Users.CreateAsync(new NewUser(Unique.Email(), null, Roles.Member), CancellationToken.None));
        return (await Run(unit => unit.Keys.CreateAsync(
            new NewApiKey(user.Id, "limited", "uk_Ab12", Unique.TokenHash(), null, Unique.AllScopes, Remaining: remaining), Unique.MaxKeys,
            CancellationToken.None)))!;
    }

    [Fact]
    public async Task A_give_back_sent_twice_hands_back_once()
    {
        var key = await LimitedKey(100);
        var lease = (await Run(unit => unit.Keys.LeaseCreditsAsync(key.Id, 10, 10, CancellationToken.None)))!;
        Assert.Equal(90, lease.Remaining);

        var operation = Guid.CreateVersion7();
        Assert.Equal(1, await Run(unit => unit.Keys.GiveBackCreditsAsync(key.Id, 4, lease.Epoch, operation, CancellationToken.None)));
        Assert.Equal(0, await Run(unit => unit.Keys.GiveBackCreditsAsync(key.Id, 4, lease.Epoch, operation, CancellationToken.None)));

        Assert.Equal(94, await Run(unit => unit.Keys.AvailableCreditsAsync(key.Id, CancellationToken.None)));
    }

    [Fact]
    public async Task A_usage_flush_sent_twice_counts_once()
    {
        var key = await LimitedKey(1);
        var hour = DateTime.UtcNow.Date;
        var batch = new UsageBatch([key.Id], [hour], [[3], [0], [0], [0], [0], [0], [1]]);

        await Run(unit => unit.Usage.FlushAsync(batch, CancellationToken.None));
        await Run(unit => unit.Usage.FlushAsync(batch, CancellationToken.None));
        await Run(unit => unit.Usage.FlushAsync(new UsageBatch([key.Id], [hour], [[2], [0], [0], [0], [0], [0], [0]]), CancellationToken.None));

        var buckets = await Run(unit => unit.Usage.BucketsAsync(key.UserId, key.Id, false, hour, hour.AddHours(1), CancellationToken.None));
        var bucket = Assert.Single(buckets);
        Assert.Equal(5, bucket.Valid);
        Assert.Equal(1, bucket.UsageExceeded);
    }
}
