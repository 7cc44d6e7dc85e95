namespace ConnDoctor.Analysis;

/// <summary>Names for the ports these incidents involve, so a row says "zookeeper" rather than 2181.</summary>
public static class WellKnownPorts
{
    private static readonly Dictionary<int, string> Names = new()
    {
        [2181] = "zookeeper", [2888] = "zk-quorum", [3888] = "zk-election", [8080] = "http-alt",
        [80] = "http", [443] = "https", [8443] = "https-alt", [22] = "ssh", [53] = "dns", [25] = "smtp",
        [3306] = "mysql", [5432] = "postgres", [6379] = "redis", [11211] = "memcached", [27017] = "mongodb",
        [9092] = "kafka", [9200] = "elasticsearch", [5672] = "amqp", [2379] = "etcd", [2380] = "etcd-peer",
        [6443] = "kube-api", [10250] = "kubelet", [9090] = "prometheus", [9042] = "cassandra",
        [20880] = "dubbo", [8500] = "consul", [4222] = "nats", [1521] = "oracle", [1433] = "mssql",
    };

    public static string? NameOf(int port) => Names.GetValueOrDefault(port);

    /// <summary>"2181 (zookeeper)" or just "2181".</summary>
    public static string Describe(int port) => NameOf(port) is { } n ? $"{port} ({n})" : port.ToString();
}
