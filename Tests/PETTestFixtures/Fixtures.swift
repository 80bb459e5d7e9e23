// Fixtures shared by the test targets that build phantom data and evaluate it (above PETTestSupport,
// which is Foundation only). Failures throw: a missing tool is an error, never a skipped check.
import Foundation
import PETTestSupport
import PETCohort
import PETTensor
import PETVolumes
import PETMetrics

public enum FixtureError: Error, CustomStringConvertible {
    case missingTool(String)
    public var description: String { switch self { case .missingTool(let why): return why } }
}

/// Fixtures of the tests that need the phantom and the evaluation (PETMetricsTests, PETGANCLITests): a
/// small phantom cohort built once per test process, perturbed NIfTI copies, runs of a program, the
/// headless browser (paths, temporary folders and templates: PETTestSupport).
public enum Fixtures {
    static let lock = NSLock()
    nonisolated(unsafe) static var cohortPath: String?

    /// 12 phantom subjects (4 NC, 4 MCI, 4 AD) on the 4 mm 48×56×48 grid, built once.
    public static func smallCohort() throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let p = cohortPath { return p }
        try ensureTemplates(required: TemplateFiles.all)
        let p = try makeTempDir("cohort") + "/real.h5"
        try PhantomCohort.makeSmallCohort(at: p, count: 12, seed: 3, templatesDirectory: RepositoryPaths.templates)
        cohortPath = p
        return p
    }

    /// Runs a program; returns (status, stdout, stderr).
    @discardableResult
    public static func run(_ exe: String, _ args: [String], environment: [String: String]? = nil) throws -> (Int32, String, String) {
        let r = try runProcess(exe, args, environment: environment)
        return (r.status, r.stdout, r.stderr)
    }

    /// Writes perturbed copies of a store's volumes (raw units + `offset`) as NIfTI files with
    /// sidecars naming their class, the way `petgan generate` writes samples.
    public static func writePerturbedNIfTI(from storePath: String, to dir: String, offset: Float, indices: [Int]? = nil) throws -> [String] {
        let s = try VolumeSet.open(storePath)   // raw units, whichever way the store holds them
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var names: [String] = []
        for i in indices ?? Array(0..<s.count) {
            var v = try s.volume(i)
            for k in 0..<v.data.count { v.data[k] += offset }
            let name = String(format: "%@_seed%05d.nii.gz", s.classNames[s.labels[i]], i)
            try NIfTIFile.write(v, to: dir + "/" + name, provenance: ["kind": "generated", "class": s.classNames[s.labels[i]], "label": s.labels[i]])
            names.append(name)
        }
        return names
    }

    /// Chromium for the report tests: installed with apt-get when missing; nil (with the reason) if that fails.
    /// The headless browser, a declared test dependency (scripts/setup-test-tools.sh, run by
    /// `make test`): a missing one is an error, never a skipped check.
    public static func chromium() throws -> String {
        for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"] where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw FixtureError.missingTool("chromium is not installed: run scripts/setup-test-tools.sh (make test does)")
    }

    /// Loads `html` in headless Chromium with a probe script appended that records load errors and
    /// image sizes into the DOM; returns the probe's JSON and the browser's stderr.
    public static func probeInChromium(_ chromium: String, htmlPath: String, extraScript: String = "") throws -> ([String: Any], String) {
        var html = try String(contentsOfFile: htmlPath, encoding: .utf8)
        let probe = """
        <script>
        window.__errors = window.__errors || [];
        window.addEventListener('error', e => window.__errors.push(String(e.message || e)), true);
        window.addEventListener('load', function () {
          const imgs = Array.from(document.images).map(i => ({w: i.naturalWidth, h: i.naturalHeight, complete: i.complete}));
          let extra = null;
          try { extra = (function () { \(extraScript) })(); } catch (e) { window.__errors.push('probe: ' + e); }
          const pre = document.createElement('pre'); pre.id = '__probe';
          pre.textContent = 'PROBE' + JSON.stringify({errors: window.__errors, images: imgs, svgs: document.querySelectorAll('svg').length, extra: extra}) + 'EBORP';
          document.body.appendChild(pre);
        });
        </script>
        """
        // Error listener first (before the page's own scripts), the rest at the end.
        html = html.replacingOccurrences(of: "<head>", with: "<head><script>window.__errors=[];window.addEventListener('error',e=>window.__errors.push(String(e.message||e)),true);</script>")
        html = html.replacingOccurrences(of: "</body>", with: probe + "</body>")
        let probed = htmlPath + ".probe.html"
        try html.write(toFile: probed, atomically: true, encoding: .utf8)
        let (_, out, err) = try run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                                                "--virtual-time-budget=5000", "--dump-dom", "file://" + probed])
        // The marker as the probe element's text (the script's own source also contains the word).
        guard let a = out.range(of: "id=\"__probe\">PROBE"), let b = out.range(of: "EBORP", range: a.upperBound..<out.endIndex) else {
            return ([:], err)
        }
        let json = String(out[a.upperBound..<b.lowerBound]).replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&quot;", with: "\"")
        let obj = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
        return (obj, err)
    }
}

/// A smooth ellipsoid (peak 2) plus Gaussian noise, any 2-D/3-D shape.
public func blobVolume(_ shape: [Int], seed: UInt64, noise: Float = 0.05) -> [Float] {
    var rng = PETRandom(seed: seed)
    let n = shape.reduce(1, *)
    var out = [Float](repeating: 0, count: n)
    let c = shape.map { Double($0) / 2 }
    for i in 0..<n {
        var rem = i, d2 = 0.0
        for a in shape.indices.reversed() { let x = Double(rem % shape[a]); rem /= shape[a]; d2 += (x - c[a]) * (x - c[a]) / (c[a] * c[a]) }
        out[i] = Float(max(0, 1 - d2)) * 2 + noise * rng.normal()
    }
    return out
}
