package mcp

import "encoding/json"

// The fixed catalogue of PROTOCOL §13.6.2: what the extension's agents
// handle. Names, properties and URIs are wire data; descriptions are free text.

type tool struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	InputSchema inputSchema `json:"inputSchema"`
}

type inputSchema struct {
	Type       string     `json:"type"`
	Properties properties `json:"properties"`
	Required   []string   `json:"required,omitempty"`
}

// properties keep their order (a JSON object built from a slice).
type properties []property

type property struct {
	Name        string
	Description string
	Enum        []string
}

func (ps properties) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, p := range ps {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, encode(p.Name)...)
		buf = append(buf, ':')
		buf = append(buf, encode(struct {
			Type        string   `json:"type"`
			Description string   `json:"description"`
			Enum        []string `json:"enum,omitempty"`
		}{"string", p.Description, p.Enum})...)
	}
	return append(buf, '}'), nil
}

type resource struct {
	URI         string `json:"uri"`
	Name        string `json:"name"`
	Description string `json:"description"`
	MimeType    string `json:"mimeType"`
}

type prompt struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Arguments   []promptArg `json:"arguments"`
}

type promptArg struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Required    bool   `json:"required"`
}

func tools(agent string) json.RawMessage {
	a := "agent " + agent
	return encode(struct {
		Tools []tool `json:"tools"`
	}{[]tool{
		{"chat", "Send a message to " + a + ": runs its agent loop and returns its reply.",
			inputSchema{"object", properties{{"message", "The message to send", nil}}, []string{"message"}}},
		{"delegate_task", "Queue a background task for " + a + ".",
			inputSchema{"object", properties{{"task", "What to do", nil}, {"priority", "Task priority", []string{"low", "normal", "high"}}}, []string{"task"}}},
		{"read_memory", "Read a file from the storage of " + a + ".",
			inputSchema{"object", properties{{"path", "File path", nil}}, []string{"path"}}},
		{"write_memory", "Write a file in the storage of " + a + ".",
			inputSchema{"object", properties{{"path", "File path", nil}, {"content", "File content", nil}}, []string{"path", "content"}}},
		{"list_files", "List the storage of " + a + ".",
			inputSchema{"object", properties{{"path", "Directory to list (default: the root)", nil}}, nil}},
		{"get_status", "The status and recent activity of " + a + ".",
			inputSchema{"object", properties{}, nil}},
		{"list_artifacts", "List shared artifacts, optionally those of one agent.",
			inputSchema{"object", properties{{"agentId", "Only the artifacts of this agent", nil}}, nil}},
		{"read_artifact", "Read a shared artifact.",
			inputSchema{"object", properties{{"path", "Artifact path", nil}}, []string{"path"}}},
	}})
}

func resources(agent string) json.RawMessage {
	base := "chaos://agent/" + agent + "/"
	return encode(struct {
		Resources []resource `json:"resources"`
	}{[]resource{
		{base + "activity", "Recent Activity", "Recent activity of agent " + agent + ".", "application/json"},
		{base + "claudemd", "Agent Instructions", "The instructions (CLAUDE.md) of agent " + agent + ".", "text/markdown"},
	}})
}

var resourceTemplates = json.RawMessage(`{"resourceTemplates":[]}`)

func prompts(agent string) json.RawMessage {
	return encode(struct {
		Prompts []prompt `json:"prompts"`
	}{[]prompt{
		{"chat_with_agent", "Chat with agent " + agent + ".",
			[]promptArg{{"message", "The message to send", true}}},
		{"delegate_to_agent", "Delegate a task to agent " + agent + ".",
			[]promptArg{{"task", "What to do", true}, {"context", "Background for the task", false}}},
	}})
}

// capabilities are the original's, exactly (PROTOCOL §13.1).
var capabilities = json.RawMessage(`{"tools":{"listChanged":false},"resources":{"subscribe":false,"listChanged":false},"prompts":{"listChanged":false}}`)
