import Foundation

/// A short self-contained HTML report (images referenced by relative path).
public struct HTMLReport {
    public var title: String
    var body: [String] = []

    public init(title: String) { self.title = title }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    public mutating func heading(_ s: String) { body.append("<h2>\(HTMLReport.escape(s))</h2>") }
    public mutating func paragraph(_ s: String) { body.append("<p>\(HTMLReport.escape(s))</p>") }
    public mutating func html(_ s: String) { body.append(s) }
    public mutating func image(_ relativePath: String, caption: String) {
        body.append("<figure><img src=\"\(HTMLReport.escape(relativePath))\" alt=\"\(HTMLReport.escape(caption))\"><figcaption>\(HTMLReport.escape(caption))</figcaption></figure>")
    }
    public mutating func table(_ header: [String], _ rows: [[String]]) {
        var t = "<table><tr>" + header.map { "<th>\(HTMLReport.escape($0))</th>" }.joined() + "</tr>"
        for r in rows { t += "<tr>" + r.map { "<td>\(HTMLReport.escape($0))</td>" }.joined() + "</tr>" }
        body.append(t + "</table>")
    }
    public mutating func preformatted(_ s: String) { body.append("<pre>\(HTMLReport.escape(s))</pre>") }

    public func write(to path: String) throws {
        let css = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}img{max-width:100%;image-rendering:pixelated;border:1px solid #ccc}"
            + "figure{margin:1em 0}figcaption{font-size:90%;color:#555}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
            + "pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:85%}"
        let html = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>\(HTMLReport.escape(title))</title><style>\(css)</style></head><body>"
            + "<h1>\(HTMLReport.escape(title))</h1>\n" + body.joined(separator: "\n") + "\n</body></html>\n"
        let tmp = path + ".tmp-\(getpid())"
        try html.write(toFile: tmp, atomically: false, encoding: .utf8)
        guard rename(tmp, path) == 0 else { throw ConfigError.unreadable(file: path, reason: "cannot rename \(tmp): \(String(cString: strerror(errno)))") }
    }
}
