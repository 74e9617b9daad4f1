//! An `llm:` step: asks a model, runs the tool calls it makes through the gate, and asks again
//! until it answers or `max_turns` runs out.

use crate::governance::GateCall;
use crate::llm::{ChatRequest, ChatResponse, LlmError, Message, Resolved};
use crate::store::{LlmRecord, now_ms};
use crate::workflow::attempt::Outcome;
use crate::workflow::events::Event;
use crate::workflow::run::RunCtx;
use monstrum_model::{LlmOutput, LlmStep, Step};
use serde_json::Value;

/// Model turns an LLM step gets unless it says otherwise.
pub const DEFAULT_MAX_TURNS: u32 = 6;

/// Runs the conversation of one LLM step (or item).
pub async fn run(
    ctx: &RunCtx,
    step: &Step,
    llm: &LlmStep,
    key: &str,
    prompt: String,
    system: Option<String>,
) -> Result<Outcome, String> {
    let workspace = &ctx.engine.workspace;
    let bot = match step.bot.as_ref().or(ctx.plan.workflow.bot.as_ref()) {
        Some(name) => Some(workspace.bot(name).map_err(|e| e.to_string())?),
        None => None,
    };
    let model = llm
        .model
        .clone()
        .or_else(|| bot.as_ref().and_then(|b| b.model.clone()))
        .or_else(|| workspace.config.model.clone())
        .ok_or("no model for this step: give llm.model, a bot with a model, or model: in monstrum.yaml")?;
    let resolved = ctx.providers.get(&model).map_err(|e| e.to_string())?;
    let tools = ctx.engine.gate.visible_tools(llm.tools.as_deref());
    let offered: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
    let system_text: Vec<String> =
        bot.and_then(|b| b.personality).into_iter().chain(system).filter(|s| !s.trim().is_empty()).collect();
    let mut request = ChatRequest {
        model: resolved.model.clone(),
        system: (!system_text.is_empty()).then(|| system_text.join("\n\n")),
        messages: vec![Message::User { content: prompt }],
        tools,
        json_output: llm.output == LlmOutput::Json,
        max_tokens: model.max_tokens,
        temperature: model.temperature,
    };
    let max_turns = llm.max_turns.unwrap_or(DEFAULT_MAX_TURNS).max(1);
    for _ in 0..max_turns {
        let answer = resolved.provider.complete(&request).await;
        record(ctx, key, &resolved, &offered, &answer).await?;
        let answer = answer.map_err(|e| e.to_string())?;
        if answer.tool_calls.is_empty() {
            return finish(llm, answer.text.unwrap_or_default()).map(Outcome::Output);
        }
        request
            .messages
            .push(Message::Assistant { content: answer.text.clone(), tool_calls: answer.tool_calls.clone() });
        for call in answer.tool_calls {
            let gate_call = GateCall {
                run: &ctx.run_id,
                step: key,
                tool: &call.name,
                arguments: call.arguments.clone(),
                offered: Some(&offered),
            };
            let result = ctx.engine.gate.call(gate_call, &ctx.engine.events).await;
            let (content, is_error) = match result {
                Ok(v) => (v.to_string(), false),
                Err(e) => (e.to_string(), true),
            };
            request.messages.push(Message::Tool { tool_call_id: call.id, name: call.name, content, is_error });
        }
    }
    Err(format!("the model gave no final answer in {max_turns} turns"))
}

/// Records a model request in the store and the event stream, failed ones included.
async fn record(
    ctx: &RunCtx,
    key: &str,
    resolved: &Resolved,
    offered: &[String],
    answer: &Result<ChatResponse, LlmError>,
) -> Result<(), String> {
    let usage = answer.as_ref().map(|a| a.usage).unwrap_or_default();
    ctx.engine.events.emit(Event::LlmRequest {
        run: ctx.run_id.clone(),
        step: key.to_string(),
        provider: resolved.provider.name().to_string(),
        model: resolved.model.clone(),
        tools: offered.to_vec(),
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
    });
    if let Some(store) = &ctx.engine.store {
        store
            .record_llm_request(&LlmRecord {
                run_id: ctx.run_id.clone(),
                step_key: key.to_string(),
                provider: resolved.provider.name().to_string(),
                model: resolved.model.clone(),
                script: resolved.script.clone(),
                tools: offered.to_vec(),
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                error: answer.as_ref().err().map(|e| e.to_string()),
                at: now_ms(),
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The step's output from the final answer: text, or JSON checked against the schema.
fn finish(llm: &LlmStep, text: String) -> Result<Value, String> {
    if llm.output == LlmOutput::Text {
        return Ok(Value::String(text));
    }
    let body = strip_fence(&text);
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("the model's answer is not JSON ({e}): {}", clip(&text)))?;
    if let Some(schema) = &llm.schema {
        let validator = jsonschema::validator_for(schema).map_err(|e| format!("invalid schema: {e}"))?;
        let problems: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        if !problems.is_empty() {
            return Err(format!("the model's answer does not match the schema: {}", problems.join("; ")));
        }
    }
    Ok(value)
}

/// A model may wrap JSON in a Markdown code fence.
fn strip_fence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else { return t };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

fn clip(text: &str) -> String {
    let mut t: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        t.push('…');
    }
    t
}
