using System.Security.Cryptography.X509Certificates;

namespace ConnDoctor.Tests.Infra;

/// <summary>
/// A test CA and one server certificate it signed, made by openssl (P-256) in a temporary folder: ca.pem, server.pem,
/// server.key. The server certificate names <paramref name="subjectAltName"/> (the addresses and host names clients
/// reach it by, in openssl's subjectAltName syntax) and is for serverAuth only. Disposing deletes the folder.
/// </summary>
public sealed class TestPki(string subjectAltName = "IP:127.0.0.1,DNS:localhost") : IDisposable
{
    public string Dir { get; } = Make(subjectAltName);
    public string CaFile => Path.Combine(Dir, "ca.pem");
    public string CertFile => Path.Combine(Dir, "server.pem");
    public string KeyFile => Path.Combine(Dir, "server.key");

    private static string Make(string san)
    {
        string dir = Directory.CreateTempSubdirectory("cd-pki").FullName;
        string F(string name) => Path.Combine(dir, name);
        Shell.Run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=conndoctor test CA", "-keyout", F("ca.key"), "-out", F("ca.pem"));
        File.WriteAllText(F("ext.cnf"), $"subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n");
        Shell.Run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=conndoctor test server",
            "-keyout", F("server.key"), "-out", F("server.csr"));
        Shell.Run("openssl", "x509", "-req", "-in", F("server.csr"), "-CA", F("ca.pem"), "-CAkey", F("ca.key"),
            "-CAcreateserial", "-days", "1", "-extfile", F("ext.cnf"), "-out", F("server.pem"));
        return dir;
    }

    /// <summary>The server certificate with its key, for an in-test TLS server.</summary>
    public X509Certificate2 ServerCertificate()
    {
        using var pem = X509Certificate2.CreateFromPemFile(CertFile, KeyFile);
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
