% rebase('layout.tpl', title='Schedules')
% if streams:
<p class="actions"><button type="button" class="primary" data-open="schedule-form" data-reset="1">Add schedule</button></p>
% elif any_streams:
<p class="empty">Every stream comes from a config file: add its schedules in the file.</p>
% else:
<p class="empty">Add a <a href="/streams">stream</a> first; a schedule records one of your streams.</p>
% end

<dialog id="schedule-form" class="form-dialog">
  <form data-api="POST /api/schedules" data-edit-api="PUT /api/schedules/{id}" data-then="reload" novalidate>
    <h2 data-title-new="Add schedule" data-title-edit="Edit schedule">Add schedule</h2>
    <label>Stream
      <select name="stream_id" data-type="int">
      % for s in streams:
        <option value="{{s['id']}}">{{s['name']}}</option>
      % end
      </select>
    </label>
    <p class="field-error" data-error-for="stream_id"></p>
    <label>When (cron: minute hour day month weekday)
      <input name="cron" required value="0 9 * * 1-5" data-cron-preview="cron-preview" autocomplete="off" spellcheck="false">
    </label>
    <p class="field-error" data-error-for="cron"></p>
    <div id="cron-preview" class="cron-preview" aria-live="polite"></div>
    <div class="row">
      <label>Hours <input name="duration_hours" type="number" min="0" max="168" value="1" data-type="skip"></label>
      <label>Minutes <input name="duration_minutes" type="number" min="0" max="59" value="0" data-type="duration"></label>
    </div>
    <p class="field-error" data-error-for="duration_minutes"></p>
    <div class="row">
      <label>Start early (s) <input name="pad_before_seconds" type="number" min="0" max="3600" value="0" data-type="int"></label>
      <label>End late (s) <input name="pad_after_seconds" type="number" min="0" max="3600" value="0" data-type="int"></label>
    </div>
    <p class="field-error" data-error-for="pad_before_seconds"></p>
    <p class="field-error" data-error-for="pad_after_seconds"></p>
    <label>Time zone <input name="timezone" value="{{default_tz}}" list="zones" data-cron-zone></label>
    <datalist id="zones"><option value="UTC"><option value="Europe/London"><option value="Europe/Berlin"><option value="Europe/Paris"><option value="America/New_York"><option value="America/Chicago"><option value="America/Los_Angeles"><option value="Australia/Sydney"><option value="Asia/Tokyo"></datalist>
    <p class="field-error" data-error-for="timezone"></p>
    <label class="check"><input name="active" type="checkbox" checked data-type="bool"> Active</label>
    <p class="field-error" data-error-for=""></p>
    <div class="buttons"><button type="button" data-close>Cancel</button><button type="submit" class="primary">Save</button></div>
  </form>
</dialog>

% if schedules:
<table class="list">
  <thead><tr><th>Stream</th><th>When</th><th>Next run</th><th>Length</th><th>Active</th><th></th></tr></thead>
  <tbody>
  % for s in sorted(schedules, key=lambda s: (s['next_run'] is None, s['next_run'] or '')):
    <tr id="schedule-{{s['id']}}" data-schedule='{{json_row(s)}}'>
      <td>{{s['stream_name']}}
        % if s['stream_id'] in from_file:
        <br><span class="badge from-file" title="Edit {{from_file[s['stream_id']]}} in the config folder to change this schedule">from {{from_file[s['stream_id']]}}</span>
        % end
      </td>
      <td><strong>{{s['description']}}</strong><br><code>{{s['cron']}}</code> <span class="muted">{{s['timezone']}}</span></td>
      % if s['next_run']:
      <td><time datetime="{{s['next_run']}}">{{s['next_run']}}</time></td>
      % else:
      <td><span class="muted">paused</span></td>
      % end
      <td>{{'%dh %02dm' % divmod(s['duration_minutes'], 60)}}</td>
      % if s['stream_id'] in from_file:
      <td>{{'yes' if s['active'] else 'no'}}</td>
      <td></td>
      % else:
      <td><label class="switch"><input type="checkbox" {{'checked' if s['active'] else ''}} data-toggle="/api/schedules/{{s['id']}}" aria-label="Active"><span></span></label></td>
      <td class="buttons"><button type="button" data-edit="schedule-form">Edit</button>
        <button type="button" class="danger" data-delete="/api/schedules/{{s['id']}}" data-confirm="Delete this schedule? Past recordings are kept.">Delete</button></td>
      % end
    </tr>
  % end
  </tbody>
</table>
% elif any_streams:
<p class="empty">No schedules yet.</p>
% end
