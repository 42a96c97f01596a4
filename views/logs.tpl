% rebase('layout.tpl', title='Logs')
<form class="filters" id="log-filters">
  <label>File <select name="file">
    <option>audio_recorder.log</option><option>system.log</option><option>error.log</option>
  </select></label>
  <label>Level <select name="level">
    <option>DEBUG</option><option selected>INFO</option><option>WARNING</option><option>ERROR</option>
  </select></label>
  <label class="check"><input type="checkbox" name="follow" checked> Follow live</label>
</form>
<div id="log" class="log" data-logs aria-live="polite"><p class="empty">Loading…</p></div>

<section>
  <h2>Change history</h2>
  <p class="muted">Every change and every step of every recording, newest first, as written in the event log.</p>
  <form class="filters" id="event-filters">
    <label>Show <select name="type">
      <option value="">everything</option>
      <option value="stream,schedule,config,host">configuration</option>
      <option value="session,transfer">recordings and uploads</option>
      <option value="config">config files</option>
    </select></label>
    <label>Source <select name="source">
      <option value="">any</option>
      % for source in sources:
      <option>{{source}}</option>
      % end
    </select></label>
  </form>
  <div id="events" data-events></div>
  <p><button type="button" id="older-events" hidden>Show older</button></p>
</section>
