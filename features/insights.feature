Feature: Insights: what an analysed offer asks for that the CV does not show

  Scenario: An offer, then a CV lacking most of it: the gap, told to the user, and a nudge
    Given the skills gap is analysed
    And Alice had the Airbus offer analysed, asking for "Python, SQL, Docker, anglais"
    And the flywheel processes the queue
    And Alice uploaded a CV showing "Python"
    When the flywheel processes the queue
    Then Alice is told "3 compétences demandées par l'offre Airbus manquent à votre CV : SQL, Docker, anglais"
    And in English "3 skills the Airbus offer asks for are missing from your CV: SQL, Docker, anglais"
    And Phoenix CV shows Alice the nudge "skills_gap_to_cv"

  Scenario: The CV may come first, in the same batch as the offer
    Given the skills gap is analysed
    And Alice uploaded a CV showing "Python, English"
    And Alice had the Thales offer analysed, asking for "Python, anglais, C++"
    When the flywheel processes the queue
    Then Alice is told "1 compétence demandée par l'offre Thales manque à votre CV : C++"

  Scenario: A new CV with the skills converts the nudge and shows nothing missing
    Given the skills gap is analysed
    And Alice had the Airbus offer analysed, asking for "Python, SQL, Docker, anglais"
    And Alice uploaded a CV showing "Python"
    And the flywheel processes the queue
    When Alice generates a CV showing "Python, SQL, Docker, anglais courant"
    And the flywheel processes the queue
    Then Alice's nudge "skills_gap_to_cv" is converted
    And Alice is told "Votre CV montre les 4 compétences demandées par l'offre Airbus."
    And Phoenix CV shows Alice no nudge

  Scenario: Forgetting the user forgets what was learnt
    Given the skills gap is analysed
    And Alice had the Airbus offer analysed, asking for "Python, SQL"
    And Alice uploaded a CV showing "Python"
    And the flywheel processes the queue
    When Alice is forgotten
    Then Alice is told nothing
