//! The editor (egui, through nice-plug-egui): every parameter, the status strip, the piano roll of
//! what was played and what is planned, the panic button, and the file actions (model, prompt clip,
//! MIDI export).
//!
//! It reads the engine and the audio thread through [`EditorData`]: atomics, the lock-free mark rings
//! of [`crate::monitor`], and status texts taken with `try_lock` (a busy engine is never waited for;
//! the last copy is drawn). It writes parameters only through the host's `ParamSetter` (automation
//! and undo work), and requests through atomic counters in [`Requests`]. Opening or closing it changes
//! nothing about the sound.

mod chord_lane;
mod files;
mod piano_roll;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Color32, RichText, Ui};
use nice_plug::prelude::{BoolParam, Param, ParamSetter};
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp, RepaintNotifier};

use crate::engine::StatusTexts;
use crate::engine::{EngineState, EngineStatus, SongView};
use crate::model::ProviderChoice;
use crate::monitor::{spans, Mark, Monitor};
use crate::params::{Action, CadenzaParams, Group, Knob};
use crate::requests::{Request, Requests};
use crate::settings::Role;
use files::ExportWhat;

/// The editor's size in logical pixels.
pub const WIDTH: u32 = 1000;
/// The editor's height in logical pixels.
pub const HEIGHT: u32 = 860;

/// Set before the plugin is created to run without an editor (the standalone's `--headless`).
static HEADLESS: AtomicBool = AtomicBool::new(false);

/// Run without an editor from now on (instances created later have none).
pub fn set_headless(headless: bool) {
    HEADLESS.store(headless, Ordering::Relaxed);
}

/// The editor's initial size.
pub fn default_state() -> Arc<EguiEditorState> {
    EguiEditorState::from_size(
        nice_plug::editor::dpi::LogicalSize::new(WIDTH as f64, HEIGHT as f64),
        1.0,
    )
}

/// What the editor reads and writes: shared handles, all created with the plugin instance.
#[derive(Clone)]
pub struct EditorData {
    /// The host parameters and what is saved beside them.
    pub params: Arc<CadenzaParams>,
    /// The requests to the engine and the audio side (panic, capture, load a model).
    pub requests: Arc<Requests>,
    /// What the engine says of itself.
    pub status: Arc<EngineStatus>,
    /// The notes heard and planned, and the clock, for the piano roll.
    pub monitor: Arc<Monitor>,
}

/// The editor, or none when headless.
pub fn create(data: EditorData) -> Option<EguiEditor<CadenzaEditor>> {
    if HEADLESS.load(Ordering::Relaxed) {
        return None;
    }
    nice_plug_egui::create_egui_editor(
        data.params.editor_state.clone(),
        RepaintNotifier::new(),
        EguiNiceSettings::new().with_tile("Cadenza"),
        CadenzaEditor::new(data),
    )
}

/// The outcome of the last file action, shown under the file rows.
#[derive(Debug, Clone)]
enum Outcome {
    Ok(String),
    Err(String),
}

/// The editor's own state (GUI thread only).
pub struct CadenzaEditor {
    data: EditorData,
    gui: Option<nice_plug::context::gui::GuiContext>,
    model_path: String,
    prompt_path: String,
    export_path: String,
    export_bars: u32,
    export_what: ExportWhat,
    outcome: Option<Outcome>,
    /// Last status texts read (kept when the engine holds a lock at draw time).
    texts: StatusTexts,
    /// Tokens-per-second estimate: (when, tokens then, rate).
    rate: (Instant, u64, f64),
    /// Reused buffers for the mark rings.
    heard: Vec<Mark>,
    planned: Vec<Mark>,
    /// The Chords field as typed, and the chord track's text it last showed from the slot (a
    /// project loaded, Learn Chords: the field follows the slot while it is not being edited).
    chords_text: String,
    chords_shown: String,
    /// What the Chords field's last Set did.
    chords_outcome: Option<Outcome>,
    /// What the song knows (the engine's last view).
    song: SongView,
}

impl CadenzaEditor {
    fn new(data: EditorData) -> Self {
        let model_path = chosen_model(&data);
        Self {
            data,
            gui: None,
            model_path,
            prompt_path: String::new(),
            export_path: default_export_path(),
            export_bars: 8,
            export_what: ExportWhat::Both,
            outcome: None,
            texts: StatusTexts::default(),
            rate: (Instant::now(), 0, 0.0),
            heard: Vec::new(),
            planned: Vec::new(),
            chords_text: String::new(),
            chords_shown: String::new(),
            chords_outcome: None,
            song: SongView::default(),
        }
    }
}

fn default_export_path() -> String {
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join("cadenza-export.mid").display().to_string()
}

const PLAYER: Color32 = Color32::from_rgb(90, 150, 235);
const CADENZA: Color32 = Color32::from_rgb(245, 160, 60);
const ERROR: Color32 = Color32::from_rgb(235, 90, 80);
const OK: Color32 = Color32::from_rgb(120, 200, 120);

impl NiceEguiApp for CadenzaEditor {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        gui: nice_plug::context::gui::GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        egui_ctx.set_visuals(egui::Visuals::dark());
        // The editor object is made with the instance, before the host loads a project's state:
        // show the model the project chose each time the window opens.
        self.model_path = chosen_model(&self.data);
        self.gui = Some(gui);
        Ok(())
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut nice_plug_egui::Frame) {
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();
        ui.ctx().request_repaint_after(Duration::from_millis(33));
        self.status_strip(ui);
        ui.separator();
        self.roll(ui);
        self.chords_row(ui);
        ui.separator();
        self.knobs(ui, &setter);
        ui.separator();
        self.file_rows(ui);
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

impl CadenzaEditor {
    fn status_strip(&mut self, ui: &mut Ui) {
        let st = &self.data.status;
        if let Some(t) = st.try_texts() {
            self.texts = t;
        }
        let tokens = st.tokens.load(Ordering::Relaxed);
        let dt = self.rate.0.elapsed().as_secs_f64();
        if dt >= 0.5 {
            let rate = tokens.saturating_sub(self.rate.1) as f64 / dt;
            self.rate = (Instant::now(), tokens, rate);
        }
        let t = &self.texts;
        ui.horizontal(|ui| {
            ui.label(RichText::new("Cadenza").strong().size(18.0));
            let (dot, what) = match st.state() {
                EngineState::Idle => (Color32::GRAY, "idle (not active)".to_string()),
                EngineState::Loading => (Color32::YELLOW, "loading…".to_string()),
                EngineState::Ready => (OK, "ready".to_string()),
                EngineState::Failed => (ERROR, format!("error: {}", t.message)),
            };
            swatch(ui, dot, true);
            ui.label(RichText::new(what).color(dot));
            if !t.model.is_empty() {
                ui.separator();
                let mb = st.model_bytes.load(Ordering::Relaxed) as f64 / 1e6;
                ui.label(format!("model {} ({}, {mb:.1} MB)", t.model, t.origin));
            }
        });
        ui.horizontal(|ui| {
            if !t.provider.is_empty() {
                ui.label(format!("on {}", t.provider));
                ui.separator();
            }
            ui.label(format!(
                "step {:.2} ms · {:.0} tokens/s",
                st.last_step_micros.load(Ordering::Relaxed) as f64 / 1000.0,
                self.rate.2
            ));
            let dropped = st.dropped_in_queues.load(Ordering::Relaxed)
                + st.dropped_to_host.load(Ordering::Relaxed);
            ui.separator();
            if dropped > 0 {
                ui.label(RichText::new(format!("dropped {dropped} events")).color(ERROR));
            } else {
                ui.label("no events dropped");
            }
            let recovered = st.recovered_errors.load(Ordering::Relaxed);
            if recovered > 0 {
                ui.separator();
                ui.label(format!("{recovered} inference errors recovered"));
            }
        });
    }

    fn roll(&mut self, ui: &mut Ui) {
        let m = &self.data.monitor;
        m.heard.read(&mut self.heard);
        self.data.status.planned.read(&mut self.planned);
        let clock = m.clock.load();
        let view = piano_roll::View {
            playhead: clock.playhead,
            beats_per_bar: clock.beats_per_bar,
            bar_origin: clock.bar_origin,
            playing: clock.playing,
        };
        let heard = spans(&self.heard);
        let planned = spans(&self.planned);
        ui.horizontal(|ui| {
            swatch(ui, PLAYER, true);
            ui.label(RichText::new("player").color(PLAYER));
            swatch(ui, CADENZA, true);
            ui.label(RichText::new("Cadenza").color(CADENZA));
            swatch(ui, CADENZA, false);
            ui.label(RichText::new("planned, not yet played").color(CADENZA));
            ui.label(format!(
                "· beat {:.1} · {:.0} BPM · {}",
                view.playhead,
                clock.tempo,
                if view.playing { "playing" } else { "stopped" }
            ));
        });
        if let Some(song) = self.data.status.try_song() {
            self.song = song;
        }
        let (lane, _) = ui.allocate_exact_size(
            egui::vec2(ui.available_width(), chord_lane::HEIGHT),
            egui::Sense::hover(),
        );
        chord_lane::draw(ui.painter_at(lane), lane, &view, &self.song);
        let (rect, _) = ui.allocate_exact_size(
            egui::vec2(ui.available_width(), 180.0),
            egui::Sense::hover(),
        );
        piano_roll::draw(ui.painter_at(rect), rect, &view, &heard, &planned);
    }

    /// The chord track's text (Enter or Set), Learn Chords, and what leads, under the chord lane.
    fn chords_row(&mut self, ui: &mut Ui) {
        let data = self.data.clone();
        egui::Grid::new("chords")
            .num_columns(2)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                ui.label("Chords");
                ui.horizontal(|ui| {
                    let slot_text = data.params.saved.chords.try_read().map(|t| t.clone()).ok();
                    let field = ui.add(
                        egui::TextEdit::singleline(&mut self.chords_text)
                            .hint_text("Eb Bb Cm Ab, or | Cm7 F7 | Bbmaj7 | (Enter to set)")
                            .desired_width(420.0),
                    );
                    if let Some(t) = slot_text.filter(|t| *t != self.chords_shown) {
                        // The slot changed elsewhere (a project loaded, Learn Chords).
                        if !field.has_focus() {
                            self.chords_text = t.clone();
                        }
                        self.chords_shown = t;
                    }
                    let entered =
                        field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    if ui.button("Set").clicked() || entered {
                        let applied = chord_lane::apply(
                            &data.params.saved.chords,
                            &data.requests,
                            &self.chords_text,
                        );
                        self.chords_outcome = Some(match applied {
                            Ok(m) => {
                                self.chords_shown = self.chords_text.trim().to_string();
                                Outcome::Ok(m)
                            }
                            Err(e) => Outcome::Err(format!("chords not set: {e}")),
                        });
                    }
                    if ui
                        .button("Learn chords")
                        .on_hover_text(
                            "Write the progression Cadenza heard (a host loop, or one you repeat) \
                             into the chord track, to edit",
                        )
                        .clicked()
                    {
                        data.requests.ask(Request::LearnChords);
                        self.chords_outcome = None;
                    }
                });
                ui.end_row();
                ui.label("");
                ui.horizontal(|ui| {
                    let error = data.status.chord_error();
                    match &self.chords_outcome {
                        Some(Outcome::Err(e)) => {
                            ui.label(RichText::new(e).color(ERROR));
                        }
                        _ if !error.is_empty() => {
                            ui.label(RichText::new(error).color(ERROR));
                        }
                        Some(Outcome::Ok(m)) => {
                            ui.label(RichText::new(m).color(OK));
                            ui.separator();
                            ui.label(&self.song.note);
                        }
                        None => {
                            ui.label(&self.song.note);
                        }
                    }
                    ui.separator();
                    ui.label(if data.status.hears_chords.load(Ordering::Relaxed) {
                        "the model hears the chords (format 5)"
                    } else {
                        "this model does not hear chords: they lead its notes through the mask (format 4)"
                    });
                });
                ui.end_row();
            });
    }

    /// The parameter groups, walked: four columns, the Chords group under the third.
    fn knobs(&mut self, ui: &mut Ui, setter: &ParamSetter) {
        let p = self.data.params.clone();
        let requests = self.data.requests.clone();
        let roles = self.data.status.roles(p.play.style.value().max(0) as usize);
        let [play, pitch, answer, chords, output] = p.groups();
        let show = |ui: &mut Ui, group: &Group| {
            for knob in &group.knobs {
                match *knob {
                    Knob::Int(param) => slider(ui, setter, param),
                    Knob::Float(param) => slider(ui, setter, param),
                    Knob::Switch(param) => toggle(ui, setter, param),
                    Knob::Role(param) => role_choice(ui, setter, param, &roles),
                    Knob::Button(_, action) => button(ui, &requests, action),
                }
            }
        };
        ui.columns(4, |cols| {
            column(&mut cols[0], play.name, |ui| show(ui, &play));
            column(&mut cols[1], pitch.name, |ui| show(ui, &pitch));
            column(&mut cols[2], answer.name, |ui| {
                show(ui, &answer);
                ui.add_space(4.0);
                ui.label(RichText::new(chords.name).strong());
                show(ui, &chords);
            });
            column(&mut cols[3], output.name, |ui| show(ui, &output));
        });
    }

    fn file_rows(&mut self, ui: &mut Ui) {
        let data = self.data.clone();
        egui::Grid::new("files")
            .num_columns(2)
            .spacing([8.0, 6.0])
            .show(ui, |ui| {
                self.model_row(ui, &data);
                ui.end_row();
                self.provider_row(ui, &data);
                ui.end_row();
                self.prompt_row(ui, &data);
                ui.end_row();
                self.export_row(ui);
                ui.end_row();
            });
        match &self.outcome {
            Some(Outcome::Ok(m)) => {
                ui.label(RichText::new(m).color(OK));
            }
            Some(Outcome::Err(m)) => {
                ui.label(RichText::new(m).color(ERROR));
            }
            None => {}
        }
    }

    /// The model: a folder to load, the built-in one, or the chosen one again.
    fn model_row(&mut self, ui: &mut Ui, data: &EditorData) {
        ui.label("Model");
        ui.horizontal(|ui| {
            path_field(
                ui,
                &mut self.model_path,
                "built-in (or a folder with model.onnx + model.json)",
            );
            if ui.button("Load").clicked() {
                self.outcome = Some(match files::check_model(&self.model_path) {
                    Ok(onnx) => {
                        choose_model(data, self.model_path.trim());
                        Outcome::Ok(format!("loading {}", onnx.display()))
                    }
                    Err(e) => Outcome::Err(format!("model not loaded: {e}")),
                });
            }
            if ui.button("Built-in").clicked() {
                self.model_path.clear();
                choose_model(data, "");
                self.outcome = Some(Outcome::Ok("loading the built-in model".into()));
            }
            if ui
                .button("Retry")
                .on_hover_text("Load the chosen model again (after an error)")
                .clicked()
            {
                data.requests.ask(Request::Model);
            }
        });
    }

    /// Where the model runs (a reload).
    fn provider_row(&mut self, ui: &mut Ui, data: &EditorData) {
        ui.label("Runs on");
        ui.horizontal(|ui| {
            let before = ProviderChoice::read(&data.params.saved.runs_on);
            let mut now = before;
            egui::ComboBox::from_id_salt("runs_on")
                .selected_text(provider_label(now))
                .show_ui(ui, |ui| {
                    for c in ProviderChoice::ALL {
                        ui.selectable_value(&mut now, c, provider_label(c));
                    }
                })
                .response
                .on_hover_text(
                    "Auto measures the loaded model on CPU and CUDA and keeps the faster; \
                     CUDA needs ONNX Runtime's GPU build (see docs/gpu.md). Changing it reloads the model.",
                );
            if now != before {
                choose_provider(data, now);
                self.outcome = Some(Outcome::Ok(format!(
                    "loading the model again, {}",
                    provider_label(now)
                )));
            }
        });
    }

    /// The prompt clip: a MIDI file to load, and the clip now.
    fn prompt_row(&mut self, ui: &mut Ui, data: &EditorData) {
        ui.label("Prompt clip");
        ui.horizontal(|ui| {
            path_field(ui, &mut self.prompt_path, "a .mid file");
            if ui.button("Load").clicked() {
                let path = std::path::PathBuf::from(self.prompt_path.trim());
                self.outcome = Some(match files::load_prompt(&path) {
                    Ok(prompt) => {
                        let msg = format!(
                            "prompt \"{}\": {} notes (Continue Clip plays from it at the next start)",
                            prompt.name,
                            prompt.notes.len()
                        );
                        tracing::info!("Cadenza: {msg}");
                        crate::prompt::write(&data.params.saved.prompt, prompt);
                        Outcome::Ok(msg)
                    }
                    Err(e) => {
                        tracing::error!("Cadenza: prompt not loaded: {e}");
                        Outcome::Err(format!("prompt not loaded: {e}"))
                    }
                });
            }
            if let Ok(p) = data.params.saved.prompt.try_read() {
                if p.notes.is_empty() {
                    ui.label("no clip");
                } else {
                    ui.label(format!("{} ({} notes)", p.name, p.notes.len()));
                }
            }
        });
    }

    /// Export the last bars to a MIDI file.
    fn export_row(&mut self, ui: &mut Ui) {
        ui.label("Export");
        ui.horizontal(|ui| {
            ui.label("last");
            ui.add(egui::DragValue::new(&mut self.export_bars).range(1..=64));
            ui.label("bars of");
            egui::ComboBox::from_id_salt("export-what")
                .selected_text(self.export_what.label())
                .show_ui(ui, |ui| {
                    for w in ExportWhat::ALL {
                        ui.selectable_value(&mut self.export_what, w, w.label());
                    }
                });
            ui.label("to");
            ui.add(egui::TextEdit::singleline(&mut self.export_path).desired_width(260.0));
            if ui.button("Export").clicked() {
                self.outcome = Some(self.export());
            }
        });
    }

    fn export(&mut self) -> Outcome {
        let m = &self.data.monitor;
        m.heard.read(&mut self.heard);
        let clock = m.clock.load();
        let path = std::path::PathBuf::from(self.export_path.trim());
        let result = files::export_midi(
            &self.heard,
            self.export_what,
            self.export_bars,
            clock.tempo,
            clock.beats_per_bar,
            clock.bar_origin,
            clock.playhead,
        )
        .and_then(|bytes| {
            std::fs::write(&path, bytes).map_err(|e| files::FileError::Bad {
                path: path.clone(),
                why: e.to_string(),
            })
        });
        match result {
            Ok(()) => Outcome::Ok(format!("exported to {}", path.display())),
            Err(e) => Outcome::Err(format!("not exported: {e}")),
        }
    }
}

/// The model path saved with the project (empty: the built-in model).
fn chosen_model(data: &EditorData) -> String {
    data.params
        .saved
        .model
        .read()
        .map(|m| m.clone())
        .unwrap_or_default()
}

/// Save the choice with the project and ask the engine to load it.
fn choose_model(data: &EditorData, path: &str) {
    *data
        .params
        .saved
        .model
        .write()
        .unwrap_or_else(|p| p.into_inner()) = path.to_string();
    data.requests.ask(Request::Model);
}

/// Save where the model runs with the project and load it again there.
fn choose_provider(data: &EditorData, choice: ProviderChoice) {
    *data
        .params
        .saved
        .runs_on
        .write()
        .unwrap_or_else(|p| p.into_inner()) = choice;
    data.requests.ask(Request::Model);
}

fn provider_label(c: ProviderChoice) -> &'static str {
    match c {
        ProviderChoice::Auto => "auto (the faster)",
        ProviderChoice::Cpu => "CPU",
        ProviderChoice::Cuda => "CUDA (GPU)",
    }
}

/// A small colour square (filled) or outline, for the legend and the state light.
fn swatch(ui: &mut Ui, color: Color32, filled: bool) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    if filled {
        ui.painter().rect_filled(rect, 2.0, color);
    } else {
        ui.painter().rect_stroke(
            rect.shrink(0.5),
            2.0,
            egui::Stroke::new(1.0, color),
            egui::StrokeKind::Inside,
        );
    }
}

fn column(ui: &mut Ui, title: &str, add: impl FnOnce(&mut Ui)) {
    ui.label(RichText::new(title).strong());
    ui.spacing_mut().item_spacing.y = 3.0;
    add(ui);
}

fn slider<P: Param>(ui: &mut Ui, setter: &ParamSetter, param: &P) {
    ui.label(param.name());
    ui.add(ParamSlider::for_param(param, setter).with_width(150.0));
}

/// The Role parameter as a list of the roles the loaded model plays (`roles`, model.json's names;
/// Free alone before a model loads). A role saved with the project that this model does not play
/// stays set, and says it plays as Free.
fn role_choice(
    ui: &mut Ui,
    setter: &ParamSetter,
    param: &nice_plug::prelude::IntParam,
    roles: &[String],
) {
    let free = [Role::Free.key().to_string()];
    let roles = if roles.is_empty() { &free[..] } else { roles };
    ui.label(param.name());
    let current = Role::from_index(param.value().max(0) as u32);
    let name = Role::NAMES[current as usize];
    let shown = match current.slot_in(roles) {
        Some(_) => name.to_string(),
        None => format!("{name} (this model: Free)"),
    };
    egui::ComboBox::from_id_salt("role")
        .selected_text(shown)
        .width(150.0)
        .show_ui(ui, |ui| {
            for (i, name) in Role::NAMES.iter().enumerate() {
                let role = Role::from_index(i as u32);
                if role.slot_in(roles).is_some()
                    && ui.selectable_label(current == role, *name).clicked()
                {
                    setter.begin_set_parameter(param);
                    setter.set_parameter(param, i as i32);
                    setter.end_set_parameter(param);
                }
            }
        })
        .response
        .on_hover_text(
            "The part Cadenza plays against yours: the roles the loaded model was trained for",
        );
}

/// A switch bound to a host parameter (a gesture per click, so automation and undo record it).
/// A path to type, with what it takes as its hint.
fn path_field(ui: &mut Ui, path: &mut String, hint: &str) {
    ui.add(
        egui::TextEdit::singleline(path)
            .hint_text(hint)
            .desired_width(420.0),
    );
}

/// A parameter's button: it asks the engine (or the audio side) at once.
fn button(ui: &mut Ui, requests: &Requests, action: Action) {
    match action {
        Action::Capture => {
            if ui
                .button("Capture the last bars as the clip")
                .on_hover_text(
                    "What you played in the last Capture Length bars becomes the prompt clip",
                )
                .clicked()
            {
                requests.ask(Request::Capture);
            }
        }
        Action::Panic => {
            ui.add_space(6.0);
            let panic = egui::Button::new(RichText::new("PANIC").strong().color(Color32::WHITE))
                .fill(Color32::from_rgb(170, 40, 40))
                .min_size(egui::vec2(120.0, 28.0));
            if ui
                .add(panic)
                .on_hover_text("End every note Cadenza plays, and every key on its channel")
                .clicked()
            {
                requests.ask(Request::Panic);
            }
        }
    }
}

fn toggle(ui: &mut Ui, setter: &ParamSetter, param: &BoolParam) {
    let mut on = param.value();
    if ui.checkbox(&mut on, param.name()).changed() {
        setter.begin_set_parameter(param);
        setter.set_parameter(param, on);
        setter.end_set_parameter(param);
    }
}
