<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{{csrf}}">
<title>{{title}} · Stream Recorder</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="icon" href="data:,">
</head>
<body>
<header class="top">
  <a class="brand" href="/"><span class="dot" aria-hidden="true"></span>Stream Recorder</a>
  <nav>
  % for href, label in nav:
    <a href="{{href}}" class="{{'active' if path == href else ''}}">{{label}}</a>
  % end
  </nav>
  <form method="post" action="/logout" class="logout">
    <input type="hidden" name="csrf_token" value="{{csrf}}">
    <button type="submit" class="link">Log out</button>
  </form>
</header>
<main>
<h1>{{title}}</h1>
<div id="flash" class="flash" role="status" hidden></div>
{{!base}}
</main>
<footer>Stream Recorder {{version}}</footer>
<script src="/static/app.js"></script>
</body>
</html>
