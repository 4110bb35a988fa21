// The finder's "use my location" button: a Streamlit v2 component (sent inline: name no file here).
// The browser's location is asked for only when the button is pressed (the permission prompt
// must follow a user's gesture). A v2 component runs in the page itself, not in an iframe, so
// the prompt is the page's own; no network and no package beyond Streamlit are needed. Strings
// from Python are set with textContent, never as HTML.
export default function ({ parentElement, data, setTriggerValue }) {
  let root = parentElement.querySelector('.fd-geo');
  if (!root) {
    root = document.createElement('div');
    root.className = 'fd-geo';
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'fd-geo-btn';
    const msg = document.createElement('div');
    msg.className = 'fd-geo-msg';
    msg.setAttribute('role', 'status');
    root.append(button, msg);
    parentElement.appendChild(root);
  }
  const button = root.querySelector('button');
  const msg = root.querySelector('.fd-geo-msg');
  button.textContent = data.label;
  button.onclick = () => {
    if (!window.isSecureContext) { msg.textContent = data.insecure; return; }
    if (!navigator.geolocation) { msg.textContent = data.unsupported; return; }
    button.disabled = true;
    msg.textContent = data.locating;
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        button.disabled = false;
        msg.textContent = '';
        setTriggerValue('position', { lon: pos.coords.longitude, lat: pos.coords.latitude,
                                      accuracy: pos.coords.accuracy });
      },
      (err) => {
        button.disabled = false;
        msg.textContent = '';
        setTriggerValue('error', { code: err.code, message: err.message });
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  };
}
