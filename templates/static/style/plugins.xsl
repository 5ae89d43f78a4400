<?xml version="1.0" encoding="UTF-8"?>
<!-- Renders plugins.xml as a readable page in browsers; QGIS ignores it. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="html" encoding="UTF-8"/>
<xsl:template match="/">
<html>
<head>
<title>QGIS Plugins - Official Repository</title>
<link rel="stylesheet" href="/static/style/plugins.css"/>
</head>
<body>
<nav>
<p>The QGIS Plugin Manager is the preferred way to install these plugins.</p>
<ul>
<xsl:for-each select="plugins/pyqgis_plugin">
<xsl:sort select="@name"/>
<li><a href="{download_url}"><xsl:value-of select="@name"/></a></li>
</xsl:for-each>
</ul>
</nav>
<main>
<h1>QGIS Plugins - Official Repository</h1>
<xsl:for-each select="plugins/pyqgis_plugin">
<xsl:sort select="@name"/>
<div class="plugin">
<h2><xsl:value-of select="@name"/> : <xsl:value-of select="@version"/></h2>
<p><xsl:value-of select="description"/></p>
<p><xsl:value-of select="about"/></p>
<dl>
<dt>Tags</dt><dd><xsl:value-of select="tags"/></dd>
<dt>Download</dt><dd><a href="{download_url}"><xsl:value-of select="file_name"/></a></dd>
<dt>Author</dt><dd><xsl:value-of select="author_name"/></dd>
<dt>Trusted</dt><dd><xsl:value-of select="trusted"/></dd>
<dt>Experimental</dt><dd><xsl:value-of select="experimental"/></dd>
<dt>Deprecated</dt><dd><xsl:value-of select="deprecated"/></dd>
<dt>QGIS versions</dt><dd><xsl:value-of select="qgis_minimum_version"/> – <xsl:value-of select="qgis_maximum_version"/></dd>
<dt>Homepage</dt><dd><a href="{homepage}"><xsl:value-of select="homepage"/></a></dd>
<dt>Tracker</dt><dd><a href="{tracker}"><xsl:value-of select="tracker"/></a></dd>
<dt>Repository</dt><dd><a href="{repository}"><xsl:value-of select="repository"/></a></dd>
</dl>
</div>
</xsl:for-each>
</main>
</body>
</html>
</xsl:template>
</xsl:stylesheet>
