<?php
// Stand-in for public_html/static.php of Roundcube 1.7, in the test release
// that tests/lib/roundcube-release lays out in 1.7's form from Debian's files
// (which have none). Same interface: GET /static.php/<path> sends the file
// <path> of the release when it lies below skins/, plugins/ or program/ and
// has an asset's type; anything else is a 404.
$types = [
    'css' => 'text/css', 'js' => 'text/javascript', 'json' => 'application/json',
    'png' => 'image/png', 'gif' => 'image/gif', 'jpg' => 'image/jpeg', 'svg' => 'image/svg+xml',
    'ico' => 'image/x-icon', 'webp' => 'image/webp', 'woff' => 'font/woff', 'woff2' => 'font/woff2',
];
$root = dirname(__DIR__);
$path = ltrim((string) ($_SERVER['PATH_INFO'] ?? ''), '/');
$type = $types[strtolower(pathinfo($path, PATHINFO_EXTENSION))] ?? null;
$file = preg_match('~^(skins|plugins|program)/~', $path) ? realpath("$root/$path") : false;
if ($type === null || $file === false || !is_file($file)
    || !preg_match('~^' . preg_quote($root, '~') . '/(skins|plugins|program)/~', $file)) {
    http_response_code(404);
    exit;
}
header("Content-Type: $type");
header('Content-Length: ' . filesize($file));
header('Cache-Control: public, max-age=604800');
readfile($file);
