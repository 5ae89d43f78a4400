"""Our Python checks of a plugin (issue 15), run by the uploader in the scan sandbox.

Parses every .py file under the folder given as argument with `ast` -- it NEVER imports or
executes them -- and prints one JSON document: {"findings": [{"rule", "file", "line",
"message"}]}. Rules: PY_SYNTAX, PY_OBFUSCATED, QT6_PYQT5_IMPORT, QT6_EXEC_UNDERSCORE,
QT6_UNSCOPED_ENUM, QT6_REMOVED_API (README "Checks" documents each).
"""

import ast
import json
import os
import sys

# Calls that turn data into code.
CODE_RUNNERS = {"exec", "eval", "compile"}
# Calls that decode or decompress data: code built from them cannot be reviewed.
DECODERS = {
    "b64decode", "b32decode", "b16decode", "b85decode", "a85decode", "standard_b64decode",
    "urlsafe_b64decode", "decodebytes", "decodestring", "decompress", "loads", "fromhex",
    "unhexlify", "a2b_base64", "a2b_hex", "decode", "rot13", "unquote_to_bytes",
}
# Modules whose decode-like calls count (`bytes.fromhex`, `codecs.decode`...).
DECODER_MODULES = {"base64", "zlib", "bz2", "lzma", "gzip", "marshal", "codecs", "binascii", "pickle"}

# Common unscoped enum members and their Qt6 / QGIS 4 scoped spelling.
UNSCOPED = {
    "Qt": {
        "AlignLeft": "Qt.AlignmentFlag.AlignLeft", "AlignRight": "Qt.AlignmentFlag.AlignRight",
        "AlignCenter": "Qt.AlignmentFlag.AlignCenter", "AlignTop": "Qt.AlignmentFlag.AlignTop",
        "AlignBottom": "Qt.AlignmentFlag.AlignBottom", "AlignVCenter": "Qt.AlignmentFlag.AlignVCenter",
        "AlignHCenter": "Qt.AlignmentFlag.AlignHCenter",
        "Checked": "Qt.CheckState.Checked", "Unchecked": "Qt.CheckState.Unchecked",
        "PartiallyChecked": "Qt.CheckState.PartiallyChecked",
        "UserRole": "Qt.ItemDataRole.UserRole", "DisplayRole": "Qt.ItemDataRole.DisplayRole",
        "EditRole": "Qt.ItemDataRole.EditRole", "ToolTipRole": "Qt.ItemDataRole.ToolTipRole",
        "DecorationRole": "Qt.ItemDataRole.DecorationRole", "CheckStateRole": "Qt.ItemDataRole.CheckStateRole",
        "ItemIsEnabled": "Qt.ItemFlag.ItemIsEnabled", "ItemIsSelectable": "Qt.ItemFlag.ItemIsSelectable",
        "ItemIsEditable": "Qt.ItemFlag.ItemIsEditable", "ItemIsUserCheckable": "Qt.ItemFlag.ItemIsUserCheckable",
        "Horizontal": "Qt.Orientation.Horizontal", "Vertical": "Qt.Orientation.Vertical",
        "LeftDockWidgetArea": "Qt.DockWidgetArea.LeftDockWidgetArea",
        "RightDockWidgetArea": "Qt.DockWidgetArea.RightDockWidgetArea",
        "BottomDockWidgetArea": "Qt.DockWidgetArea.BottomDockWidgetArea",
        "TopDockWidgetArea": "Qt.DockWidgetArea.TopDockWidgetArea",
        "WaitCursor": "Qt.CursorShape.WaitCursor", "ArrowCursor": "Qt.CursorShape.ArrowCursor",
        "CrossCursor": "Qt.CursorShape.CrossCursor", "PointingHandCursor": "Qt.CursorShape.PointingHandCursor",
        "LeftButton": "Qt.MouseButton.LeftButton", "RightButton": "Qt.MouseButton.RightButton",
        "Key_Escape": "Qt.Key.Key_Escape", "Key_Return": "Qt.Key.Key_Return", "Key_Enter": "Qt.Key.Key_Enter",
        "Key_Delete": "Qt.Key.Key_Delete",
        "ControlModifier": "Qt.KeyboardModifier.ControlModifier",
        "ShiftModifier": "Qt.KeyboardModifier.ShiftModifier",
        "KeepAspectRatio": "Qt.AspectRatioMode.KeepAspectRatio",
        "SmoothTransformation": "Qt.TransformationMode.SmoothTransformation",
        "red": "Qt.GlobalColor.red", "black": "Qt.GlobalColor.black", "white": "Qt.GlobalColor.white",
        "transparent": "Qt.GlobalColor.transparent",
        "WindowModal": "Qt.WindowModality.WindowModal", "ApplicationModal": "Qt.WindowModality.ApplicationModal",
        "WindowStaysOnTopHint": "Qt.WindowType.WindowStaysOnTopHint", "Dialog": "Qt.WindowType.Dialog",
        "AscendingOrder": "Qt.SortOrder.AscendingOrder", "DescendingOrder": "Qt.SortOrder.DescendingOrder",
        "SolidLine": "Qt.PenStyle.SolidLine", "DashLine": "Qt.PenStyle.DashLine", "NoPen": "Qt.PenStyle.NoPen",
        "NoBrush": "Qt.BrushStyle.NoBrush", "SolidPattern": "Qt.BrushStyle.SolidPattern",
        "MatchExactly": "Qt.MatchFlag.MatchExactly", "MatchContains": "Qt.MatchFlag.MatchContains",
        "CaseInsensitive": "Qt.CaseSensitivity.CaseInsensitive",
        "CustomContextMenu": "Qt.ContextMenuPolicy.CustomContextMenu",
        "ScrollBarAlwaysOff": "Qt.ScrollBarPolicy.ScrollBarAlwaysOff",
        "RichText": "Qt.TextFormat.RichText", "PlainText": "Qt.TextFormat.PlainText",
    },
    "QgsWkbTypes": {
        "PointGeometry": "Qgis.GeometryType.Point", "LineGeometry": "Qgis.GeometryType.Line",
        "PolygonGeometry": "Qgis.GeometryType.Polygon", "UnknownGeometry": "Qgis.GeometryType.Unknown",
        "NullGeometry": "Qgis.GeometryType.Null",
        "Point": "Qgis.WkbType.Point", "LineString": "Qgis.WkbType.LineString",
        "Polygon": "Qgis.WkbType.Polygon", "MultiPoint": "Qgis.WkbType.MultiPoint",
        "MultiLineString": "Qgis.WkbType.MultiLineString", "MultiPolygon": "Qgis.WkbType.MultiPolygon",
        "NoGeometry": "Qgis.WkbType.NoGeometry", "Unknown": "Qgis.WkbType.Unknown",
    },
    "QMessageBox": {
        "Yes": "QMessageBox.StandardButton.Yes", "No": "QMessageBox.StandardButton.No",
        "Ok": "QMessageBox.StandardButton.Ok", "Cancel": "QMessageBox.StandardButton.Cancel",
        "Save": "QMessageBox.StandardButton.Save", "Discard": "QMessageBox.StandardButton.Discard",
        "Warning": "QMessageBox.Icon.Warning", "Information": "QMessageBox.Icon.Information",
        "Critical": "QMessageBox.Icon.Critical", "Question": "QMessageBox.Icon.Question",
    },
    "QDialogButtonBox": {
        "Ok": "QDialogButtonBox.StandardButton.Ok", "Cancel": "QDialogButtonBox.StandardButton.Cancel",
        "Close": "QDialogButtonBox.StandardButton.Close", "Apply": "QDialogButtonBox.StandardButton.Apply",
        "Help": "QDialogButtonBox.StandardButton.Help", "Save": "QDialogButtonBox.StandardButton.Save",
    },
    "QSizePolicy": {
        "Expanding": "QSizePolicy.Policy.Expanding", "Fixed": "QSizePolicy.Policy.Fixed",
        "Minimum": "QSizePolicy.Policy.Minimum", "Maximum": "QSizePolicy.Policy.Maximum",
        "Preferred": "QSizePolicy.Policy.Preferred", "MinimumExpanding": "QSizePolicy.Policy.MinimumExpanding",
        "Ignored": "QSizePolicy.Policy.Ignored",
    },
    "QFileDialog": {
        "ShowDirsOnly": "QFileDialog.Option.ShowDirsOnly",
        "DontUseNativeDialog": "QFileDialog.Option.DontUseNativeDialog",
        "AcceptOpen": "QFileDialog.AcceptMode.AcceptOpen", "AcceptSave": "QFileDialog.AcceptMode.AcceptSave",
        "ExistingFile": "QFileDialog.FileMode.ExistingFile", "Directory": "QFileDialog.FileMode.Directory",
    },
    "QAbstractItemView": {
        "SelectRows": "QAbstractItemView.SelectionBehavior.SelectRows",
        "SingleSelection": "QAbstractItemView.SelectionMode.SingleSelection",
        "ExtendedSelection": "QAbstractItemView.SelectionMode.ExtendedSelection",
        "NoEditTriggers": "QAbstractItemView.EditTrigger.NoEditTriggers",
    },
    "QHeaderView": {
        "Stretch": "QHeaderView.ResizeMode.Stretch",
        "ResizeToContents": "QHeaderView.ResizeMode.ResizeToContents",
        "Interactive": "QHeaderView.ResizeMode.Interactive",
    },
    "QVariant": {
        "Int": "QMetaType.Type.Int", "String": "QMetaType.Type.QString",
        "Double": "QMetaType.Type.Double", "Bool": "QMetaType.Type.Bool",
        "Date": "QMetaType.Type.QDate", "DateTime": "QMetaType.Type.QDateTime",
        "LongLong": "QMetaType.Type.LongLong",
    },
    "QFrame": {
        "HLine": "QFrame.Shape.HLine", "VLine": "QFrame.Shape.VLine",
        "Sunken": "QFrame.Shadow.Sunken", "StyledPanel": "QFrame.Shape.StyledPanel",
    },
    "QLineEdit": {"Password": "QLineEdit.EchoMode.Password", "Normal": "QLineEdit.EchoMode.Normal"},
    "QIODevice": {
        "ReadOnly": "QIODevice.OpenModeFlag.ReadOnly", "WriteOnly": "QIODevice.OpenModeFlag.WriteOnly",
        "ReadWrite": "QIODevice.OpenModeFlag.ReadWrite", "Text": "QIODevice.OpenModeFlag.Text",
    },
    "QgsMapLayer": {
        "VectorLayer": "Qgis.LayerType.Vector", "RasterLayer": "Qgis.LayerType.Raster",
    },
}

# Names removed in Qt6 (imported or used as a name) and what to use instead.
REMOVED_NAMES = {
    "QRegExp": "QRegularExpression",
    "QRegExpValidator": "QRegularExpressionValidator",
    "QDesktopWidget": "QScreen (QGuiApplication.primaryScreen() / screens())",
    "QMatrix": "QTransform",
    "QGLWidget": "QOpenGLWidget",
    "QGLFormat": "QSurfaceFormat",
    "QWebView": "QgsWebView or the system browser (QtWebKit is gone)",
    "QWebPage": "QgsWebPage or the system browser (QtWebKit is gone)",
    "QSound": "QSoundEffect (QtMultimedia)",
    "QTextCodec": "Python's str.encode/decode",
    "QSignalMapper": "a lambda or functools.partial",
}
REMOVED_MODULES = {
    "QtWebKit": "QtWebEngine, QgsWebView, or the system browser",
    "QtWebKitWidgets": "QtWebEngineWidgets, QgsWebView, or the system browser",
    "QtXmlPatterns": "an XML library such as lxml or xml.etree",
    "QtScript": "QJSEngine (QtQml)",
}
# Methods removed in Qt6, called without arguments (the receiver's class is not knowable
# from the source: the message names the usual one).
REMOVED_METHODS = {
    "desktop": "QApplication.desktop() is gone: use QGuiApplication.primaryScreen() / screens()",
    "delta": "QWheelEvent.delta() is gone: use angleDelta().y()",
}
SET_MARGIN = "QLayout.setMargin() is gone: use setContentsMargins(m, m, m, m)"


def rel(path, root):
    return os.path.relpath(path, root).replace(os.sep, "/")


class Visitor(ast.NodeVisitor):
    def __init__(self, file):
        self.file = file
        self.findings = []

    def add(self, rule, node, message):
        self.findings.append({"rule": rule, "file": self.file, "line": getattr(node, "lineno", None),
                              "message": message})

    # Imports
    def visit_Import(self, node):
        for alias in node.names:
            self.check_module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self.check_module(node, module)
        for alias in node.names:
            if alias.name in REMOVED_MODULES:
                self.check_module(node, module + "." + alias.name)
            elif alias.name in REMOVED_NAMES and REMOVED_NAMES[alias.name]:
                self.add("QT6_REMOVED_API", node,
                         "%s is removed in Qt6: use %s." % (alias.name, REMOVED_NAMES[alias.name]))
        self.generic_visit(node)

    def check_module(self, node, module):
        parts = module.split(".")
        if parts[0] == "PyQt5":
            self.add("QT6_PYQT5_IMPORT", node,
                     "Imports %s directly: write `from qgis.PyQt%s import ...` so the plugin runs "
                     "with Qt5 and Qt6." % (module, module[len("PyQt5"):]))
        for part in parts[1:]:
            if part in REMOVED_MODULES:
                self.add("QT6_REMOVED_API", node,
                         "%s is removed in Qt6: use %s." % (part, REMOVED_MODULES[part]))

    # Names and attributes
    def visit_Name(self, node):
        hint = REMOVED_NAMES.get(node.id)
        if hint and isinstance(node.ctx, ast.Load):
            self.add("QT6_REMOVED_API", node, "%s is removed in Qt6: use %s." % (node.id, hint))

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name):
            members = UNSCOPED.get(node.value.id)
            if members and node.attr in members:
                self.add("QT6_UNSCOPED_ENUM", node,
                         "%s.%s is an unscoped enum member: write %s (works with Qt 5.15 too)."
                         % (node.value.id, node.attr, members[node.attr]))
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Attribute):
            if f.attr == "exec_":
                self.add("QT6_EXEC_UNDERSCORE", node, "exec_() is removed in Qt6: call exec().")
            elif f.attr == "width" and is_font_metrics(f.value):
                self.add("QT6_REMOVED_API", node,
                         "QFontMetrics.width() is removed in Qt6: use horizontalAdvance().")
            elif f.attr in REMOVED_METHODS and not node.args:
                self.add("QT6_REMOVED_API", node, REMOVED_METHODS[f.attr] + ".")
            elif f.attr == "setMargin":
                self.add("QT6_REMOVED_API", node, SET_MARGIN + ".")
        if call_name(f) in CODE_RUNNERS and node.args and builds_code(node.args[0]):
            self.add("PY_OBFUSCATED", node,
                     "%s() runs decoded or decompressed data: the code it runs cannot be reviewed. "
                     "Ship the code as plain Python source." % call_name(f))
        self.generic_visit(node)


def is_font_metrics(node):
    """`QFontMetrics(...).width`, `fm.width` where the name says font metrics, `fontMetrics().width`."""
    if isinstance(node, ast.Call):
        n = call_name(node.func)
        return n in ("QFontMetrics", "QFontMetricsF", "fontMetrics")
    if isinstance(node, ast.Name):
        return "metrics" in node.id.lower() or node.id in ("fm", "fmt_metrics")
    return False


def call_name(f):
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def builds_code(arg):
    """Whether the argument of exec/eval/compile decodes data (anywhere inside it)."""
    for sub in ast.walk(arg):
        if isinstance(sub, ast.Call):
            name = call_name(sub.func)
            if name in DECODERS and decoder_call(sub):
                return True
            if name == "__import__" and sub.args and isinstance(sub.args[0], ast.Constant) \
                    and sub.args[0].value in DECODER_MODULES:
                return True
    return False


def decoder_call(call):
    """`loads`/`decode`/`decompress` count when called on a decoder module, a bytes/str
    literal, `bytes` or an `__import__`; the unambiguous decoders always count."""
    name = call_name(call.func)
    if name not in ("loads", "decode", "decompress"):
        return True
    owner = call.func.value if isinstance(call.func, ast.Attribute) else None
    if owner is None:
        return name == "decompress"
    for sub in ast.walk(owner):
        if isinstance(sub, ast.Name) and sub.id in DECODER_MODULES | {"bytes"}:
            return True
        if isinstance(sub, ast.Constant) and isinstance(sub.value, (bytes, str)):
            return True
        if isinstance(sub, ast.Call) and call_name(sub.func) in DECODERS | {"__import__"}:
            return True
    return False


def scan_file(path, root):
    name = rel(path, root)
    with open(path, "rb") as fh:
        source = fh.read()
    try:
        tree = ast.parse(source, filename=name)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", None) or str(exc)
        return [{"rule": "PY_SYNTAX", "file": name, "line": line,
                 "message": "Python cannot parse this file (%s): QGIS will fail to load it. "
                            "Fix the syntax (run `python3 -m py_compile %s`)." % (msg, name)}]
    except RecursionError:
        return [{"rule": "PY_SYNTAX", "file": name, "line": None,
                 "message": "The file nests too deeply for Python's parser."}]
    v = Visitor(name)
    try:
        v.visit(tree)
    except RecursionError:
        v.findings.append({"rule": "PY_SYNTAX", "file": name, "line": None,
                           "message": "The file nests too deeply to be checked."})
    return v.findings


def main():
    root = sys.argv[1]
    findings = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".py"):
                findings.extend(scan_file(os.path.join(folder, f), root))
    json.dump({"findings": findings}, sys.stdout)


if __name__ == "__main__":
    main()
