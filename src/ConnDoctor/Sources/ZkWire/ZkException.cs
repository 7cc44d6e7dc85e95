namespace ConnDoctor.Sources.ZkWire;

/// <summary>
/// Anything that went wrong talking to a ZooKeeper server, as one line that names the server and the request:
/// "zookeeper 127.0.0.1:2181: getChildren /x: NoNode". <see cref="Code"/> is the server's error code, or
/// ConnectionLoss / OperationTimeout / MarshallingError for failures on the wire (closed, silent, garbage).
/// </summary>
public sealed class ZkException(ZkErrorCode code, string message) : SourceException(message)
{
    public ZkErrorCode Code { get; } = code;

    /// <summary>The code's name as ZooKeeper spells it ("NoNode"), or "error -999" for a code this client does not know.</summary>
    public static string Describe(ZkErrorCode code) => Enum.IsDefined(code) ? code.ToString() : $"error {(int)code}";
}
