//! Names and words per locale. Small lists: enough variety for test data, nothing scraped.

/// The words of one locale.
pub struct Words {
    pub first_names: &'static [&'static str],
    pub last_names: &'static [&'static str],
    pub words: &'static [&'static str],
}

/// Locales faker knows.
pub const LOCALES: [&str; 4] = ["en", "de", "fr", "es"];

/// Domains reserved for examples (RFC 2606), so no address reaches a real mailbox.
pub const DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

pub fn locale(name: &str) -> Option<&'static Words> {
    match name {
        "en" => Some(&EN),
        "de" => Some(&DE),
        "fr" => Some(&FR),
        "es" => Some(&ES),
        _ => None,
    }
}

static EN: Words = Words {
    first_names: &["Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James", "Mia", "William", "Amelia", "Henry", "Harper", "Lucas", "Evelyn", "Mason", "Abigail", "Ethan"],
    last_names: &["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark"],
    words: &["data", "river", "quiet", "morning", "build", "simple", "light", "garden", "travel", "paper", "window", "music", "careful", "bright", "market", "coffee", "winter", "story", "planet", "signal", "harbor", "yellow", "forest", "engine", "letter", "silver", "summer", "bridge", "number", "season"],
};

static DE: Words = Words {
    first_names: &["Emma", "Ben", "Mia", "Paul", "Hannah", "Leon", "Sophie", "Finn", "Lea", "Jonas", "Marie", "Elias", "Lena", "Felix", "Anna", "Lukas", "Laura", "Maximilian", "Clara", "Jürgen"],
    last_names: &["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Braun", "Zimmermann", "Krüger"],
    words: &["daten", "fluss", "ruhig", "morgen", "bauen", "einfach", "licht", "garten", "reise", "papier", "fenster", "musik", "sorgfältig", "hell", "markt", "kaffee", "winter", "geschichte", "planet", "signal", "hafen", "gelb", "wald", "motor", "brief", "silber", "sommer", "brücke", "zahl", "straße"],
};

static FR: Words = Words {
    first_names: &["Louise", "Gabriel", "Ambre", "Léo", "Jade", "Raphaël", "Emma", "Arthur", "Alice", "Louis", "Chloé", "Jules", "Inès", "Hugo", "Léa", "Adam", "Manon", "Lucas", "Camille", "Théo"],
    last_names: &["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier"],
    words: &["données", "rivière", "calme", "matin", "construire", "simple", "lumière", "jardin", "voyage", "papier", "fenêtre", "musique", "prudent", "clair", "marché", "café", "hiver", "histoire", "planète", "signal", "port", "jaune", "forêt", "moteur", "lettre", "argent", "été", "pont", "nombre", "saison"],
};

static ES: Words = Words {
    first_names: &["Lucía", "Hugo", "Sofía", "Martín", "María", "Pablo", "Martina", "Daniel", "Paula", "Alejandro", "Valeria", "Mateo", "Julia", "Leo", "Emma", "Manuel", "Daniela", "Álvaro", "Carla", "Adrián"],
    last_names: &["García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso", "Navarro"],
    words: &["datos", "río", "tranquilo", "mañana", "construir", "sencillo", "luz", "jardín", "viaje", "papel", "ventana", "música", "cuidadoso", "brillante", "mercado", "café", "invierno", "historia", "planeta", "señal", "puerto", "amarillo", "bosque", "motor", "carta", "plata", "verano", "puente", "número", "estación"],
};
