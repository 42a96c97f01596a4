<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · Stream Recorder</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="icon" href="data:,">
</head>
<body class="login-page">
<main class="login">
  <h1><span class="dot" aria-hidden="true"></span>Stream Recorder</h1>
  <div class="card">
    <h2>{{title}}</h2>
    <p>{{message}}</p>
    <p><a href="/">Back to the dashboard</a></p>
  </div>
</main>
</body>
</html>
