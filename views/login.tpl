<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Stream Recorder</title>
<link rel="stylesheet" href="/static/style.css">
<link rel="icon" href="data:,">
</head>
<body class="login-page">
<main class="login">
  <h1><span class="dot" aria-hidden="true"></span>Stream Recorder</h1>
  <form method="post" action="/login" class="card">
    <input type="hidden" name="form_token" value="{{form_token}}">
    <input type="hidden" name="next" value="{{next_path}}">
    <label>User <input name="username" value="admin" autocomplete="username" required></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required autofocus></label>
    % if error:
    <p class="error" role="alert">{{error}}</p>
    % end
    <button type="submit" class="primary">Log in</button>
  </form>
  <p class="hint">The password is <code>ADMIN_PASSWORD</code>, or the one printed in the log at the first start.</p>
</main>
</body>
</html>
