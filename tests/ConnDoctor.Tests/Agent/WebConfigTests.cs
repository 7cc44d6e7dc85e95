using ConnDoctor.Agent.Http;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>The exporter-toolkit web config as real users write it, and bcrypt hashes made by htpasswd -B.</summary>
public class WebConfigTests
{
    // Forms published with real exporters (public repositories, found with the search tool): a postgres_exporter set-up
    // script that writes a client-certificate config, and an SNMP exporter's commented web config with http_server_config.
    private const string PostgresExporterForm = """
        tls_server_config:
            cert_file: /etc/ssl/self-certs/proventa-client-cert.pem
            key_file: /etc/ssl/self-certs/proventa-client-cert-key.pem
            client_auth_type: "RequireAndVerifyClientCert"
            client_ca_file: /etc/ssl/self-certs/proventa-root-ca.pem
        """;

    private const string SnmpExporterForm = """
        # Web configuration for SNMP Exporter
        # This file configures the web server to use basic authentication
        # Use with --web.config.file=snmp_exporter_web_config.yml

        # TLS configuration - currently disabled
        # Uncomment the section below to enable TLS
        # tls_server_config:
        #   # Certificate and key files for HTTPS
        #   cert_file: /etc/snmp_exporter/cert.pem
        #   key_file: /etc/snmp_exporter/key.pem
        #
        #   # Minimum TLS version
        #   min_version: TLS12

        # HTTP server configuration
        http_server_config:
          # Enable HTTP/2 support
          http2: true

          # Security headers
          headers:
            X-Content-Type-Options: nosniff
            X-Frame-Options: deny

        basic_auth_users:
          admin: $2y$10$/ivrqYnFF52vhuAQ76PeoOafk.9EMncZoOyY9hVgMEjLq8LA6i0Pq
        """;

    [Fact]
    public void ReadsAClientCertificateConfigAsPublished()
    {
        var c = WebConfig.Parse(PostgresExporterForm, "/etc");
        Assert.True(c.Tls);
        Assert.Equal("/etc/ssl/self-certs/proventa-client-cert.pem", c.CertFile);
        Assert.Equal("RequireAndVerifyClientCert", c.ClientAuthType);
        Assert.True(c.VerifiesClientCerts && c.RequiresClientCert);
        Assert.Equal("/etc/ssl/self-certs/proventa-root-ca.pem", c.ClientCaFile);
    }

    [Fact]
    public void ReadsBasicAuthAndNamesWhatItIgnores()
    {
        var c = WebConfig.Parse(SnmpExporterForm, "/etc");
        Assert.False(c.Tls);
        Assert.Equal("$2y$10$/ivrqYnFF52vhuAQ76PeoOafk.9EMncZoOyY9hVgMEjLq8LA6i0Pq", c.BasicAuthUsers["admin"]);
        Assert.Equal(["http_server_config"], c.Ignored);
    }

    [Fact]
    public void RelativeFilesAreTakenFromTheConfigsFolder()
    {
        var c = WebConfig.Parse("tls_server_config:\n  cert_file: tls/agent.crt\n  key_file: 'tls/agent.key'\n  min_version: TLS13\n", "/srv/cfg");
        Assert.Equal("/srv/cfg/tls/agent.crt", c.CertFile);
        Assert.Equal("/srv/cfg/tls/agent.key", c.KeyFile);
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, c.MinVersion);
    }

    [Theory]
    [InlineData("tls_server_config:\n  cert_fle: a.crt\n  key_file: a.key\n", "unknown key tls_server_config.cert_fle")]
    [InlineData("tls_server_config:\n  cert_file: a.crt\n", "needs both cert_file and key_file")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n", "needs client_ca_file")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n", "client_auth_type Sometimes")]
    [InlineData("basic_auth_users:\n  bob: plaintext\n", "not a bcrypt hash")]
    [InlineData("tls_config:\n  cert_file: a\n", "unknown key tls_config")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: SSL3\n", "TLS version SSL3")]
    [InlineData("basic_auth_users:\n  bob: \"$2y$10$unterminated\n", "unterminated quote")]
    public void BadConfigsAreOneLineErrors(string yaml, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => WebConfig.Parse(yaml, "/etc"));
        Assert.Contains(expected, ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void LoadNamesTheFileInItsError()
    {
        var ex = Assert.Throws<UserException>(() => WebConfig.Load("/nonexistent/web.yml"));
        Assert.StartsWith("--web.config.file /nonexistent/web.yml:", ex.Message);
    }

    [Theory]
    [InlineData("5", "s3cr3t pass")]
    [InlineData("10", "pässwörd:with:colons")]
    public void BcryptVerifiesHashesMadeByHtpasswd(string cost, string password)
    {
        Assert.True(File.Exists("/usr/bin/htpasswd"), "htpasswd missing: scripts/setup.sh installs apache2-utils");
        var line = Shell.Run("htpasswd", "-nbB", "-C", cost, "prometheus", password).Trim();
        var hash = line[(line.IndexOf(':') + 1)..];
        Assert.StartsWith("$2y$", hash);
        Assert.True(Bcrypt.Verify(password, hash));
        Assert.False(Bcrypt.Verify(password + "x", hash));
        Assert.False(Bcrypt.Verify("", hash));
        Assert.False(Bcrypt.Verify(password, "$2y$10$garbage"));
    }
}
