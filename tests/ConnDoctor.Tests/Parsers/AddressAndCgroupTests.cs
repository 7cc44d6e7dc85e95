using ConnDoctor.Model;
using ConnDoctor.Sources;

namespace ConnDoctor.Tests.Parsers;

public class AddressAndCgroupTests
{
    [Theory]
    [InlineData("10.0.0.5:2181", "10.0.0.5", 2181, false)]
    [InlineData("[::1]:2181", "::1", 2181, false)]
    [InlineData("10.0.0.5", "10.0.0.5", 0, false)]
    [InlineData(":2181", "0.0.0.0", 2181, true)]
    [InlineData("2001:db8::7", "2001:db8::7", 0, false)]
    public void EndpointsParse(string text, string addr, int port, bool any)
    {
        Assert.True(NetEndpoint.TryParse(text, out var ep, out var anyAddr));
        Assert.Equal(any, anyAddr);
        Assert.Equal(port, ep.Port);
        if (!any) Assert.Equal(addr, ep.Address.ToString());
    }

    [Theory]
    [InlineData("10.0.0.300:1")]
    [InlineData("host:99999")]
    [InlineData("[::1")]
    [InlineData("")]
    public void BadEndpointsAreRejected(string text) => Assert.False(NetEndpoint.TryParse(text, out _, out _));

    [Theory]
    [InlineData("/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", null)]
    [InlineData("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e3d4c_5b6a_4978_8695_a4b3c2d1e0f9.slice/cri-containerd-abababababababababababababababababababababababababababababababab.scope", "abababababababababababababababababababababababababababababababab", "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9")]
    [InlineData("/kubepods/besteffort/pod0a1b2c3d-1111-2222-3333-444455556666/fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", "0a1b2c3d-1111-2222-3333-444455556666")]
    [InlineData("/user.slice/user-0.slice/session-1.scope", null, null)]
    public void ContainerAndPodComeFromTheCgroupPath(string cgroup, string? container, string? pod)
    {
        var (c, p) = ProcessReader.ContainerOf(cgroup);
        Assert.Equal(container, c);
        Assert.Equal(pod, p);
    }

    [Fact]
    public void CgroupV2LineWinsOverV1Controllers()
    {
        Assert.Equal("/a/b", ProcessReader.ParseCgroupPath("12:pids:/x\n0::/a/b\n"));
        Assert.Equal("/x", ProcessReader.ParseCgroupPath("12:pids:/x\n11:cpu:/y\n"));
    }
}
