using ConnDoctor.Model;

namespace ConnDoctor.Tests.Collect;

/// <summary>
/// Secrets in the forms that travel in documents: each case is a command line as the tool's own documentation writes
/// it (named beside it), with a made-up secret. Masked by collect unless --no-redact.
/// </summary>
public sealed class CommandLineTextTests
{
    [Theory]
    // MySQL Connector/J reference, "Connection URL Syntax": properties in the query string.
    [InlineData("java -jar app.jar jdbc:mysql://db:3306/app?user=app&password=s3cret&useSSL=false",
                "java -jar app.jar jdbc:mysql://db:3306/app?user=app&password=***&useSSL=false")]
    // SQL Server JDBC: semicolon-separated properties.
    [InlineData("java Main jdbc:sqlserver://db:1433;databaseName=app;password=s3cret;encrypt=true",
                "java Main jdbc:sqlserver://db:1433;databaseName=app;password=***;encrypt=true")]
    // curl's manual: -H "Authorization: Bearer TOKEN" (and Basic).
    [InlineData("curl -H Authorization: Bearer abc.def.ghi https://api.example/v1", "curl -H Authorization: Bearer *** https://api.example/v1")]
    [InlineData("curl -H Authorization: Basic dXNlcjpwYXNz https://api.example/v1", "curl -H Authorization: Basic *** https://api.example/v1")]
    // redis.conf / redis-server --requirepass, --masterauth.
    [InlineData("redis-server --port 6379 --requirepass foobared --masterauth foobared", "redis-server --port 6379 --requirepass *** --masterauth ***")]
    // ZooKeeper Administrator's Guide: the super user's digest.
    [InlineData("java -Dzookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU= QuorumPeerMain",
                "java -Dzookeeper.DigestAuthenticationProvider.superDigest=*** QuorumPeerMain")]
    // ZooKeeper's TLS: -Dzookeeper.ssl.keyStore.password; a -Dsecret... property of an application.
    [InlineData("java -Dzookeeper.ssl.keyStore.password=changeit -Dsecret.key=xyz Main", "java -Dzookeeper.ssl.keyStore.password=*** -Dsecret.key=*** Main")]
    // MongoDB connection string: user:password@ in the URL.
    [InlineData("mongosh mongodb://admin:s3cret@db1:27017,db2:27017/?replicaSet=rs0", "mongosh mongodb://admin:***@db1:27017,db2:27017/?replicaSet=rs0")]
    // Nothing secret: left alone (a comma list, a query without secrets).
    [InlineData("java -cp a.jar:b.jar Main --servers zk1:2181,zk2:2181 http://x/?a=1&b=2", "java -cp a.jar:b.jar Main --servers zk1:2181,zk2:2181 http://x/?a=1&b=2")]
    public void SecretsInTheFormsToolsDocumentAreMasked(string raw, string shown) => Assert.Equal(shown, CommandLineText.Masked(raw));

    [Fact]
    public void MaskingTwiceChangesNothing()
    {
        var once = CommandLineText.Masked("app --password x jdbc:mysql://h/d?password=y https://u:p@h -Dsecret=z Bearer t");
        Assert.Equal(once, CommandLineText.Masked(once));
        Assert.DoesNotContain("=y", once);
    }
}
